// Steward console: GraphiQL served from this server only (no CDN, so opening the console tells no third party).
// A link may carry a token and a query in its fragment, which never leaves the browser:
//   /graphql#token=<jwt>&query=<url-encoded query>
(function () {
  var params = new URLSearchParams(window.location.hash.slice(1));
  var token = params.get("token");
  var headers = JSON.stringify({ Authorization: "Bearer " + (token || "<token>") }, null, 2);
  var query = params.get("query") ||
    "# Put your token in the Headers tab below, then press \"Re-fetch GraphQL schema\" (the circular arrow in the\n" +
    "# left bar) so the Docs explorer and autocompletion load, and run:\n{\n  viewer { subject kind roles }\n}\n";
  if (token) {
    // Keep the token out of the address bar and the history once read.
    history.replaceState(null, "", window.location.pathname);
  }
  // With a token from the link, every request carries it, the schema introspection at start included; headers typed
  // in the Headers tab are added on top.
  var fetcher = GraphiQL.createFetcher(
    token ? { url: "/graphql", headers: { Authorization: "Bearer " + token } } : { url: "/graphql" }
  );
  var root = ReactDOM.createRoot(document.getElementById("graphiql"));
  root.render(
    React.createElement(GraphiQL, {
      fetcher: fetcher,
      defaultQuery: query,
      query: query,
      headers: headers,
      defaultHeaders: headers,
      shouldPersistHeaders: false,
      defaultEditorToolsVisibility: "headers",
    })
  );
})();
