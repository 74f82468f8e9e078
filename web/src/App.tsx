// The shell: navigation, the signed-in user, and the screens by URL. The board ships in the
// first bundle (it is the first screen); every other screen loads when first opened.

import { lazy, Suspense, useEffect, useState, type ReactNode } from "react";
import { useLiveUpdates, type LiveState } from "./api/liveUpdates";
import { getSession, hasRole, signOut, useSession, type Session } from "./auth/session";
import { OidcCallbackPage, SignInPage } from "./auth/SignIn";
import { personName } from "./people";
import { Link, matchPath, navigate, useLocation } from "./router";
import { BoardScreen } from "./screens/board/BoardScreen";
import { Loading } from "./ui/states";

const DealScreen = lazy(() => import("./screens/deal/DealScreen"));
const ContactsScreen = lazy(() => import("./screens/contacts/ContactsScreen"));
const ContactScreen = lazy(() => import("./screens/contacts/ContactScreen"));
const CompaniesScreen = lazy(() => import("./screens/contacts/CompaniesScreen"));
const CompanyScreen = lazy(() => import("./screens/contacts/CompanyScreen"));
const TasksScreen = lazy(() => import("./screens/tasks/TasksScreen"));
const DashboardsScreen = lazy(() => import("./screens/dashboards/DashboardsScreen"));
const SettingsScreen = lazy(() => import("./screens/settings/SettingsScreen"));
const ImportsScreen = lazy(() => import("./screens/imports/ImportsScreen"));
const ImportJobScreen = lazy(() => import("./screens/imports/ImportJobScreen"));

type Route = { pattern: string; render: (params: Record<string, string>) => ReactNode };

const ROUTES: Route[] = [
  { pattern: "/board", render: () => <BoardScreen /> },
  { pattern: "/deals/:id", render: ({ id }) => <DealScreen id={id} /> },
  { pattern: "/contacts", render: () => <ContactsScreen /> },
  { pattern: "/contacts/:id", render: ({ id }) => <ContactScreen id={id} /> },
  { pattern: "/companies", render: () => <CompaniesScreen /> },
  { pattern: "/companies/:id", render: ({ id }) => <CompanyScreen id={id} /> },
  { pattern: "/tasks", render: () => <TasksScreen /> },
  { pattern: "/dashboards", render: () => <DashboardsScreen tab="funnel" /> },
  { pattern: "/dashboards/:tab", render: ({ tab }) => <DashboardsScreen tab={tab} /> },
  { pattern: "/settings", render: () => <SettingsScreen tab="pipelines" /> },
  { pattern: "/settings/:tab", render: ({ tab }) => <SettingsScreen tab={tab} /> },
  { pattern: "/imports", render: () => <ImportsScreen /> },
  { pattern: "/imports/:id", render: ({ id }) => <ImportJobScreen id={id} /> },
];

const NAV = [
  { to: "/board", label: "Pipeline" },
  { to: "/tasks", label: "My tasks" },
  { to: "/contacts", label: "Contacts" },
  { to: "/companies", label: "Companies" },
  { to: "/dashboards", label: "Dashboards" },
];

const LIVE_LABELS: Record<LiveState["status"], [string, string]> = {
  live: ["Live", "Changes by colleagues appear as they happen."],
  connecting: ["Connecting…", "Connecting to live updates."],
  offline: ["Offline", "Live updates are down: screens refresh when you come back to this window."],
};

function LiveIndicator({ live }: { live: LiveState }) {
  const [dismissed, setDismissed] = useState<string | null>(null);
  const [label, title] = LIVE_LABELS[live.status];
  const notice = live.notice && live.notice.id !== dismissed ? live.notice : null;
  return (
    <>
      <span className="live-status" data-testid="live-status" data-status={live.status} title={title}>
        {label}
      </span>
      <span role="status" className="live-notice">
        {notice && (
          <>
            <span data-testid="live-notice">{notice.title}</span>
            <button type="button" className="link" aria-label="Dismiss notification" onClick={() => setDismissed(notice.id)}>
              ×
            </button>
          </>
        )}
      </span>
    </>
  );
}

function Shell({ session, children }: { session: Session; children: ReactNode }) {
  const { pathname } = useLocation();
  const live = useLiveUpdates(session);
  const nav = hasRole(session, "admin", "manager")
    ? [...NAV, { to: "/imports", label: "Import" }, { to: "/settings", label: "Settings" }]
    : NAV;
  return (
    <div className="app">
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <header className="topbar">
        <Link to="/board" className="brand">
          CRM
        </Link>
        <nav aria-label="Main">
          <ul>
            {nav.map((item) => (
              <li key={item.to}>
                <Link to={item.to} aria-current={pathname.startsWith(item.to) ? "page" : undefined}>
                  {item.label}
                </Link>
              </li>
            ))}
          </ul>
        </nav>
        <div className="who">
          <LiveIndicator live={live} />
          <span data-testid="signed-in-user">
            {session.name || personName(session.userId)}
            <span className="muted"> · {session.roles.join(", ")} · {session.workspace}</span>
          </span>
          <a href="/graphql" className="muted">
            API
          </a>
          <button
            type="button"
            className="link"
            onClick={() => {
              signOut();
              navigate("/sign-in");
            }}
          >
            Sign out
          </button>
        </div>
      </header>
      <main id="main" tabIndex={-1}>
        <Suspense fallback={<Loading />}>{children}</Suspense>
      </main>
    </div>
  );
}

function NotFound() {
  return (
    <div className="page">
      <h1>Page not found</h1>
      <p>
        Nothing lives at this address. <Link to="/board">Go to the pipeline</Link>.
      </p>
    </div>
  );
}

export function App() {
  const { pathname, search } = useLocation();
  useSession(); // re-render on sign-in / sign-out
  const session = getSession();

  const publicPage = pathname === "/sign-in" || pathname === "/auth/callback";
  useEffect(() => {
    if (!session && !publicPage) {
      const next = pathname + (search.size ? `?${search}` : "");
      navigate(`/sign-in?next=${encodeURIComponent(next)}`, { replace: true });
    } else if (pathname === "/") {
      navigate("/board", { replace: true });
    }
  }, [session, publicPage, pathname, search]);

  if (pathname === "/sign-in") return <SignInPage />;
  if (pathname === "/auth/callback") return <OidcCallbackPage />;
  if (!session) return <Loading />;
  for (const route of ROUTES) {
    const params = matchPath(route.pattern, pathname);
    if (params) return <Shell session={session}>{route.render(params)}</Shell>;
  }
  return (
    <Shell session={session}>
      <NotFound />
    </Shell>
  );
}
