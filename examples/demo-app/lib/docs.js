"use strict";

function escapeHtml(text) {
  return String(text).replace(
    /[&<>"']/g,
    (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c],
  );
}

/** A small HTML page describing the endpoints, as a FastAPI app's /docs does for its API. */
function renderDocs({ version, slot, healthPath }) {
  const endpoints = [
    ["/", 'The app\'s identity: <code>{"app":"switchyard-demo","version":…,"slot":…}</code>.'],
    [
      healthPath,
      "Health as JSON: 200 healthy, 206 degraded (Redis unreachable or migrations pending), " +
        "503 unhealthy (database unreachable).",
    ],
    ["/docs", "This page."],
    ["/metrics", "Prometheus metrics, text exposition format 0.0.4."],
  ];
  const rows = endpoints
    .map(([path, what]) => `      <tr><td><code>GET ${escapeHtml(path)}</code></td><td>${what}</td></tr>`)
    .join("\n");
  return `<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8">
    <title>switchyard demo app ${escapeHtml(version)}: API</title>
  </head>
  <body>
    <h1>switchyard demo app</h1>
    <p>Version <code>${escapeHtml(version)}</code>, slot <code>${escapeHtml(slot)}</code>. Every answer carries
      <code>X-Slot</code> and <code>X-App-Version</code> headers; anything else is a 404 in JSON.</p>
    <table>
${rows}
    </table>
  </body>
</html>
`;
}

module.exports = { escapeHtml, renderDocs };
