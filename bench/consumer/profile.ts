/**
 * Top self-time frames of a V8 CPU profile of a bundle, mapped back to the sources through the
 * bundle's source map (node:module SourceMap), and the share of each source area.
 */
import * as fs from 'fs';
import { SourceMap, type SourceMapPayload } from 'module';
import * as path from 'path';
import { fileURLToPath } from 'url';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileSummary {
  /** Sampled milliseconds, all of them. */
  totalMillis: number;
  /** Milliseconds idle (waiting for timers and sockets). */
  idleMillis: number;
  /** Milliseconds of the bench harness (left out of `frames`). */
  harnessMillis: number;
  frames: Array<{ frame: string; millis: number }>;
  areas: Array<{ area: string; millis: number }>;
}

/** The bench's own work in the worker (event parse, IPC, timing, the profiler itself): not part of the handler. */
export const HARNESS = 'bench harness (event JSON, IPC, timing, profiler)';

const SPECIAL = new Set(['(idle)', '(program)', '(garbage collector)', '(root)']);

/** The area of a source path: our lambda/ code, a package, or Node.js itself. */
function areaOf(source: string): string {
  const nodeModules = source.lastIndexOf('node_modules/');
  if (nodeModules >= 0) {
    const rest = source.slice(nodeModules + 'node_modules/'.length).split('/');
    return rest[0].startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0];
  }
  const lambda = source.indexOf('lambda/');
  if (lambda >= 0) {
    return source.slice(lambda).split('/').slice(0, 2).join('/');
  }
  return source.includes('bench/consumer/processor') ? 'bench processor' : source.includes('bench/') ? HARNESS : source;
}

export function summariseProfile(file: string, root: string, top = 15): ProfileSummary {
  const profile = JSON.parse(fs.readFileSync(file, 'utf8')) as CpuProfile;
  const maps = new Map<string, SourceMap | undefined>();
  const mapOf = (url: string): SourceMap | undefined => {
    if (!maps.has(url)) {
      let map: SourceMap | undefined;
      try {
        const filePath = fileURLToPath(url);
        if (fs.existsSync(`${filePath}.map`)) {
          map = new SourceMap(JSON.parse(fs.readFileSync(`${filePath}.map`, 'utf8')) as SourceMapPayload);
        }
      } catch {
        map = undefined;
      }
      maps.set(url, map);
    }
    return maps.get(url);
  };
  const self = new Map<number, number>();
  let totalMillis = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    const millis = (profile.timeDeltas[i] ?? 0) / 1000;
    totalMillis += millis;
    self.set(profile.samples[i], (self.get(profile.samples[i]) ?? 0) + millis);
  }
  const parent = new Map<number, ProfileNode>();
  for (const node of profile.nodes) {
    for (const child of node.children ?? []) {
      parent.set(child, node);
    }
  }
  /** Whether Node.js code runs for the worker itself: its nearest caller outside Node.js is worker.mjs (the event's file read). */
  const calledByHarness = (node: ProfileNode): boolean => {
    let caller = parent.get(node.id);
    while (caller && caller.callFrame.url.startsWith('node:')) {
      caller = parent.get(caller.id);
    }
    return caller !== undefined && path.basename(caller.callFrame.url) === 'worker.mjs';
  };
  /** A JavaScript frame's label (source-mapped) and area. */
  const describe = (node: ProfileNode): { frame: string; area: string } => {
    const { functionName, url, lineNumber, columnNumber } = node.callFrame;
    if (url.startsWith('node:')) {
      const harness =
        url === 'node:inspector' ||
        url.startsWith('node:internal/child_process') ||
        (url === 'node:internal/process/per_thread' && functionName === 'cpuUsage') ||
        calledByHarness(node);
      return { frame: `${functionName || '(anonymous)'} (${url}:${lineNumber + 1})`, area: harness ? HARNESS : 'Node.js' };
    }
    // node:module's findEntry answers a SourceMapping, or {} where nothing maps.
    const found: unknown = url.startsWith('file:') ? mapOf(url)?.findEntry(lineNumber, columnNumber) : undefined;
    const entry = found as { originalSource?: string; originalLine?: number; name?: string } | undefined;
    if (entry?.originalSource) {
      const source = entry.originalSource.startsWith('file:')
        ? fileURLToPath(entry.originalSource)
        : path.resolve(path.dirname(fileURLToPath(url)), entry.originalSource);
      let relative = path.relative(root, source);
      if (relative.startsWith('..') && relative.includes('/lambda/')) {
        // A revision's lambda/ checked out in a temporary folder (--ref): shown from lambda/ on.
        relative = relative.slice(relative.indexOf('/lambda/') + 1);
      }
      return {
        frame: `${entry.name ?? (functionName || '(anonymous)')} (${relative}:${(entry.originalLine ?? 0) + 1})`,
        area: areaOf(relative),
      };
    }
    const base = path.basename(url);
    return {
      frame: `${functionName || '(anonymous)'} (${base}:${lineNumber + 1}:${columnNumber + 1})`,
      area: base === 'worker.mjs' ? HARNESS : base,
    };
  };
  const byFrame = new Map<string, number>();
  const byArea = new Map<string, number>();
  let idleMillis = 0;
  let harnessMillis = 0;
  for (const node of profile.nodes) {
    const millis = self.get(node.id) ?? 0;
    if (millis === 0) {
      continue;
    }
    const { functionName, url } = node.callFrame;
    if (functionName === '(idle)') {
      idleMillis += millis;
      continue;
    }
    let frame: string;
    let area: string;
    if (SPECIAL.has(functionName)) {
      frame = functionName;
      area = functionName;
    } else if (url === '') {
      // A native (C++ or builtin) frame: named after the JavaScript frame that called it, and counted in its area.
      let caller = parent.get(node.id);
      while (caller && caller.callFrame.url === '' && !SPECIAL.has(caller.callFrame.functionName)) {
        caller = parent.get(caller.id);
      }
      const from = caller && caller.callFrame.url !== '' ? describe(caller) : { frame: '?', area: '(V8 / native)' };
      frame = `${functionName || '(native)'} ← ${from.frame}`;
      area = from.area;
    } else {
      ({ frame, area } = describe(node));
    }
    byArea.set(area, (byArea.get(area) ?? 0) + millis);
    if (area === HARNESS) {
      harnessMillis += millis;
    } else {
      byFrame.set(frame, (byFrame.get(frame) ?? 0) + millis);
    }
  }
  return summaryOf({ totalMillis, idleMillis, harnessMillis }, byFrame, byArea, top, Math.max(10, top));
}

/** Several profiles' summaries (each made with `top` = Infinity) as one: their milliseconds summed, frame by frame and area by area. */
export function mergeSummaries(summaries: readonly ProfileSummary[], top = 15): ProfileSummary {
  const frames = new Map<string, number>();
  const areas = new Map<string, number>();
  for (const summary of summaries) {
    summary.frames.forEach(({ frame, millis }) => frames.set(frame, (frames.get(frame) ?? 0) + millis));
    summary.areas.forEach(({ area, millis }) => areas.set(area, (areas.get(area) ?? 0) + millis));
  }
  const sum = (pick: (s: ProfileSummary) => number) => summaries.reduce((total, s) => total + pick(s), 0);
  return summaryOf(
    { totalMillis: sum((s) => s.totalMillis), idleMillis: sum((s) => s.idleMillis), harnessMillis: sum((s) => s.harnessMillis) },
    frames,
    areas,
    top,
    10,
  );
}

/** A summary from its totals and its milliseconds by frame and by area: the `frameCount` and `areaCount` largest, largest first. */
function summaryOf(
  totals: Pick<ProfileSummary, 'totalMillis' | 'idleMillis' | 'harnessMillis'>,
  byFrame: Map<string, number>,
  byArea: Map<string, number>,
  frameCount: number,
  areaCount: number,
): ProfileSummary {
  const largest = (map: Map<string, number>, count: number) => [...map].sort((a, b) => b[1] - a[1]).slice(0, count);
  return {
    ...totals,
    frames: largest(byFrame, frameCount).map(([frame, millis]) => ({ frame, millis })),
    areas: largest(byArea, areaCount).map(([area, millis]) => ({ area, millis })),
  };
}

/** The summary's top frames and areas (the harness left out) as two markdown tables, in % of `busy` ms. */
export function profileTables(summary: ProfileSummary, busy: number, framesHeading = 'top self-time frames'): string {
  const lines = [`| ${framesHeading} | ms | % of busy |`, '| --- | ---: | ---: |'];
  for (const { frame, millis } of summary.frames) {
    lines.push(`| ${frame.replace(/\|/g, '\\|')} | ${millis.toFixed(1)} | ${((millis / busy) * 100).toFixed(1)} |`);
  }
  lines.push('', '| area | ms | % of busy |', '| --- | ---: | ---: |');
  for (const { area, millis } of summary.areas.filter((a) => a.area !== HARNESS)) {
    lines.push(`| ${area} | ${millis.toFixed(1)} | ${((millis / busy) * 100).toFixed(1)} |`);
  }
  return lines.join('\n');
}
