/**
 * A diagnosis preload for the bench's own processes (the bench, and the emulators it starts as
 * processes, e.g. dynalite): `NODE_OPTIONS=--require=./bench/server-timing.cjs npm run bench -- producer --e2e-only`.
 * Every HTTP(S) server in the process is timed per request on the server side (headers in → body in →
 * response finished), by operation (`x-amz-target`) and port, and the process's collections are
 * counted; each process prints a summary to stdout when it exits or gets SIGTERM (the bench stops
 * its dynalite process with SIGTERM and passes its output on).
 * Handler processes do not get it: the bench gives them their own environment.
 */
const http = require('http');
const https = require('https');
const { constants, monitorEventLoopDelay } = require('perf_hooks');

/** Per `operation@port`: [ms until the body had arrived, ms until the response was finished]. */
const requests = new Map();
const collections = new Map();

for (const Server of [http.Server, https.Server]) {
  const emit = Server.prototype.emit;
  Server.prototype.emit = function (name, req, res) {
    if (name === 'request') {
      const started = performance.now();
      const operation = `${String(req.headers['x-amz-target'] ?? '?')
        .split('.')
        .pop()}@${this.address()?.port}`;
      let arrived = started;
      req.once('end', () => {
        arrived = performance.now();
      });
      res.once('finish', () => {
        const list = requests.get(operation) ?? [];
        requests.set(operation, list);
        list.push([arrived - started, performance.now() - started]);
      });
    }
    return emit.apply(this, arguments);
  };
}

const KINDS = {
  [constants.NODE_PERFORMANCE_GC_MINOR]: 'minor',
  [constants.NODE_PERFORMANCE_GC_MAJOR]: 'major',
  [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental marking',
  [constants.NODE_PERFORMANCE_GC_WEAKCB]: 'weak callbacks',
};
new PerformanceObserver((entries) => {
  for (const entry of entries.getEntries()) {
    const kind = KINDS[entry.detail?.kind] ?? String(entry.detail?.kind);
    const seen = collections.get(kind) ?? { count: 0, millis: 0, longest: 0 };
    collections.set(kind, seen);
    seen.count++;
    seen.millis += entry.duration;
    seen.longest = Math.max(seen.longest, entry.duration);
  }
}).observe({ entryTypes: ['gc'] });
const loopDelay = monitorEventLoopDelay({ resolution: 1 });
loopDelay.enable();

const quantile = (values, q) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * q))];
};
const ms = (value) => value.toFixed(2);

const report = () => {
  const lines = [`server timing, process ${process.pid} (${process.argv.slice(1, 3).join(' ')}):`];
  for (const [operation, list] of requests) {
    const body = list.map(([arrived]) => arrived);
    const total = list.map(([, finished]) => finished);
    lines.push(
      `  ${operation}: ${list.length} requests; body in p50 ${ms(quantile(body, 0.5))} ms; answered p50 ${ms(quantile(total, 0.5))}, p90 ${ms(quantile(total, 0.9))}, max ${ms(Math.max(...total))} ms`,
    );
  }
  for (const [kind, { count, millis, longest }] of collections) {
    lines.push(`  collections, ${kind}: ${count}, ${ms(millis)} ms in all, longest ${ms(longest)} ms`);
  }
  lines.push(`  event-loop delay p99 ${ms(loopDelay.percentile(99) / 1e6)} ms`);
  process.stdout.write(`${lines.join('\n')}\n`);
};
process.once('exit', report);
process.once('SIGTERM', () => process.exit(0));
