"use strict";

/** Prometheus's text exposition format, version 0.0.4. */
const METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

/** A label value as the format writes it: backslash, double quote and newline escaped. */
function labelValue(value) {
  return String(value).replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

/**
 * Requests counted by route (the app's own paths, everything else as "other", so a scanner cannot
 * grow the series without bound), rendered with the app's identity and start time.
 */
function createMetrics({ version, slot, routes, startedAtMs = Date.now() }) {
  const known = new Set(routes);
  const requests = new Map();
  return {
    /** Counts one request on arrival, so a scrape sees itself. */
    count(path) {
      const route = known.has(path) ? path : "other";
      requests.set(route, (requests.get(route) ?? 0) + 1);
    },
    render() {
      const lines = [
        "# HELP switchyard_demo_requests_total Requests received, by route.",
        "# TYPE switchyard_demo_requests_total counter",
        ...[...requests.entries()]
          .sort(([a], [b]) => a.localeCompare(b))
          .map(([route, count]) => `switchyard_demo_requests_total{route="${labelValue(route)}"} ${count}`),
        "# HELP switchyard_demo_info The running release: its version and slot.",
        "# TYPE switchyard_demo_info gauge",
        `switchyard_demo_info{version="${labelValue(version)}",slot="${labelValue(slot)}"} 1`,
        "# HELP process_start_time_seconds Start time of the process since unix epoch in seconds.",
        "# TYPE process_start_time_seconds gauge",
        `process_start_time_seconds ${Math.floor(startedAtMs / 1000)}`,
      ];
      return `${lines.join("\n")}\n`;
    },
  };
}

module.exports = { METRICS_CONTENT_TYPE, createMetrics, labelValue };
