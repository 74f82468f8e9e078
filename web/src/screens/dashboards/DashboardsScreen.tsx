export default function DashboardsScreen(_props: Record<string, unknown>) {
  return <div className="page"><h1>DashboardsScreen</h1></div>;
}
