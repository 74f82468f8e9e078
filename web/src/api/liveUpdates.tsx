// What keeps the screens current while a colleague works: the tab's subscriptions at the
// gateway, each event invalidating the topics it changes (the queries re-fetch, coalesced),
// the latest notification for the signed-in user (for admins, also a webhook the platform
// disabled), and the connection's state for the top bar.

import { useEffect, useState } from "react";
import { getSession, hasRole, signOut, type Session } from "../auth/session";
import { graphql } from "../gql";
import { ALL_TOPICS, invalidate, invalidateSoon, setLiveConnected, type Topic } from "./live";
import { LiveClient, liveUrl, type LiveStatus } from "./subscriptions";

const DEALS = graphql(`
  subscription LiveDeals {
    dealChanged {
      kind
      dealId
    }
  }
`);

const TASKS = graphql(`
  subscription LiveTasks {
    taskChanged {
      kind
      taskId
    }
  }
`);

const INTERACTIONS = graphql(`
  subscription LiveInteractions {
    interactionLogged {
      id
    }
  }
`);

const NOTIFICATIONS = graphql(`
  subscription LiveNotifications {
    notificationReceived {
      id
      title
      reason
    }
  }
`);

// Admins only: a webhook the platform disabled after its receiver kept failing.
const WEBHOOK_NOTICES = graphql(`
  subscription LiveWebhookNotices {
    webhookDisabled {
      id
      url
      updatedAt
    }
  }
`);

// A deal change moves board columns and dashboard figures; a task change, task lists (and
// the board's next-task hints); an interaction, contact and company timelines.
const FEEDS: { query: { toString(): string }; topics: Topic[] }[] = [
  { query: DEALS, topics: ["deals", "analytics"] },
  { query: TASKS, topics: ["tasks"] },
  { query: INTERACTIONS, topics: ["contacts"] },
];

export type LiveNotice = { id: string; title: string };

export type LiveState = { status: LiveStatus; notice: LiveNotice | null };

export function useLiveUpdates(session: Session): LiveState {
  const [status, setStatus] = useState<LiveStatus>("connecting");
  const [notice, setNotice] = useState<LiveNotice | null>(null);
  const token = session.token;
  const admin = hasRole(session, "admin");

  useEffect(() => {
    const client = new LiveClient({
      url: liveUrl(window.location),
      token: () => (getSession()?.token === token ? token : null),
      onStatus: (next) => {
        setLiveConnected(next === "live");
        setStatus(next);
      },
      // What changed while the socket was down never arrives: read everything again.
      onReconnected: () => invalidate(...ALL_TOPICS),
      onUnauthenticated: () => {
        if (!getSession()) signOut("expired");
      },
    });
    const ends = FEEDS.map(({ query, topics }) =>
      client.subscribe(query.toString(), {}, () => invalidateSoon(...topics)),
    );
    ends.push(
      client.subscribe(NOTIFICATIONS.toString(), {}, (data) => {
        const received = (data as { notificationReceived?: LiveNotice }).notificationReceived;
        if (received) setNotice({ id: received.id, title: received.title });
        invalidateSoon("tasks");
      }),
    );
    if (admin) {
      ends.push(
        client.subscribe(WEBHOOK_NOTICES.toString(), {}, (data) => {
          const hook = (data as { webhookDisabled?: { id: string; url: string; updatedAt: string } })
            .webhookDisabled;
          if (hook) setNotice({ id: `webhook:${hook.id}:${hook.updatedAt}`, title: `Webhook disabled: ${hook.url}` });
        }),
      );
    }
    return () => {
      ends.forEach((end) => end());
      client.close();
      setLiveConnected(false);
    };
  }, [token, admin]);

  return { status, notice };
}
