// GraphiQL, bundled from npm by the web build and served by the gateway at GET /graphql:
// no asset comes from the internet. The signed-in user's token (same origin) is sent with
// every request, so the explorer works right after signing in to the app.
import { createGraphiQLFetcher } from "@graphiql/toolkit";
import { GraphiQL } from "graphiql";
import "graphiql/style.css";
import { createRoot } from "react-dom/client";
import { currentToken } from "../auth/session";

const token = currentToken();
const fetcher = createGraphiQLFetcher({
  url: "/graphql",
  headers: token ? { Authorization: `Bearer ${token}` } : undefined,
});

const root = document.getElementById("graphiql");
if (root) {
  createRoot(root).render(
    <GraphiQL
      fetcher={fetcher}
      defaultQuery={
        token
          ? "{ pipelineBoard { columns { stage { name } count totalAmount } } }\n"
          : "# Sign in to the app first (/sign-in): GraphiQL uses its token.\n{ __typename }\n"
      }
    />,
  );
}
