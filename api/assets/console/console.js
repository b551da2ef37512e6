// Steward console: GraphiQL served from this server only (no CDN, so opening the console tells no third party).
// A link may carry a token and a query in its fragment, which never leaves the browser:
//   /graphql#token=<jwt>&query=<url-encoded query>
(function () {
  var params = new URLSearchParams(window.location.hash.slice(1));
  var token = params.get("token");
  var headers = JSON.stringify({ Authorization: "Bearer " + (token || "<token>") }, null, 2);
  var query = params.get("query") ||
    (token
      ? "# Signed in with the token from your link (in the Headers tab below). Open the Docs explorer (the book icon)\n" +
        "# to browse the schema, then run:\n{\n  viewer { subject kind roles }\n}\n"
      : "# Put your token in the Headers tab below (replace <token>; `steward serve --demo` prints some): the Docs\n" +
        "# explorer and autocompletion load as soon as it is there. Then run:\n{\n  viewer { subject kind roles }\n}\n");
  if (token) {
    // Keep the token out of the address bar and the history once read.
    history.replaceState(null, "", window.location.pathname);
  }
  var root = ReactDOM.createRoot(document.getElementById("graphiql"));
  var authorization = token ? "Bearer " + token : null;
  var pending = null;

  // The schema is introspected with the fetcher's own headers. When the Authorization header typed in the Headers tab
  // changes, the console gets a new fetcher carrying it, and GraphiQL loads the schema again with it: no "Re-fetch
  // schema" click needed after pasting a token.
  function fetcherFor(value) {
    return GraphiQL.createFetcher(
      value ? { url: "/graphql", headers: { Authorization: value } } : { url: "/graphql" }
    );
  }

  function onEditHeaders(text) {
    clearTimeout(pending);
    pending = setTimeout(function () {
      var value = null;
      try {
        var parsed = JSON.parse(text || "{}");
        value = parsed.Authorization || parsed.authorization || null;
      } catch (e) {
        return; // Still being typed.
      }
      if (value && /<token>/.test(value)) {
        value = null;
      }
      if (value !== authorization) {
        authorization = value;
        render();
      }
    }, 400);
  }

  function render() {
    root.render(
      React.createElement(GraphiQL, {
        fetcher: fetcherFor(authorization),
        defaultQuery: query,
        query: query,
        headers: headers,
        defaultHeaders: headers,
        shouldPersistHeaders: false,
        defaultEditorToolsVisibility: "headers",
        onEditQuery: function (text) {
          query = text;
        },
        onEditHeaders: function (text) {
          headers = text;
          onEditHeaders(text);
        },
      })
    );
  }

  render();
})();
