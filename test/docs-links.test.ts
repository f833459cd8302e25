import * as fs from 'fs';
import * as path from 'path';

/**
 * Every relative link in README.md and docs/**\/*.md points to a file or folder that exists, and a
 * link to a heading (`page.md#heading`, `#heading`) names a heading of that page, as GitHub
 * renders it. Links inside fenced code blocks and inline code are not links.
 */
const ROOT = path.resolve(__dirname, '..');

function markdownFiles(): string[] {
  const files = [path.join(ROOT, 'README.md')];
  const walk = (dir: string): void => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) {
        walk(full);
      } else if (entry.name.endsWith('.md')) {
        files.push(full);
      }
    }
  };
  walk(path.join(ROOT, 'docs'));
  return files;
}

/** The text outside fenced code blocks and inline code spans, line by line (line numbers kept). */
function proseLines(markdown: string): string[] {
  let fence: string | undefined;
  return markdown.split('\n').map((line) => {
    const marker = /^\s*(`{3,}|~{3,})/.exec(line)?.[1];
    if (fence !== undefined) {
      if (marker !== undefined && marker[0] === fence[0] && marker.length >= fence.length) {
        fence = undefined;
      }
      return '';
    }
    if (marker !== undefined) {
      fence = marker;
      return '';
    }
    return line.replace(/(`+)[\s\S]*?\1/g, '');
  });
}

/** GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens, repeats numbered. */
function headingAnchors(markdown: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  let fence: string | undefined;
  for (const line of markdown.split('\n')) {
    const marker = /^\s*(`{3,}|~{3,})/.exec(line)?.[1];
    if (fence !== undefined) {
      if (marker !== undefined && marker[0] === fence[0] && marker.length >= fence.length) {
        fence = undefined;
      }
      continue;
    }
    if (marker !== undefined) {
      fence = marker;
      continue;
    }
    const heading = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line)?.[1];
    if (heading === undefined) {
      continue;
    }
    const text = heading
      .replace(/!?\[([^\]]*)\]\([^)]*\)/g, '$1') // a link's text only
      .replace(/<[^>]+>/g, '');
    const slug = text
      .toLowerCase()
      .replace(/[^\p{L}\p{M}\p{N}\p{Pc}\- ]/gu, '')
      .replace(/ /g, '-');
    const count = seen.get(slug) ?? 0;
    seen.set(slug, count + 1);
    anchors.add(count === 0 ? slug : `${slug}-${count}`);
  }
  return anchors;
}

interface Link {
  readonly file: string;
  readonly line: number;
  readonly target: string;
}

function relativeLinks(file: string): Link[] {
  const links: Link[] = [];
  proseLines(fs.readFileSync(file, 'utf8')).forEach((line, index) => {
    // Inline links and images: [text](target "title"), and reference definitions: [id]: target
    const found = [
      ...line.matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g),
      ...line.matchAll(/^\s*\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)/g),
    ];
    for (const match of found) {
      const target = match[1];
      if (/^[a-z][a-z0-9+.-]*:/i.test(target)) {
        continue; // https:, mailto:, …
      }
      links.push({ file, line: index + 1, target });
    }
  });
  return links;
}

/** Why a link is broken, or undefined when it is fine. */
function problemOf(link: Link): string | undefined {
  const [rawPath, anchor] = link.target.split('#', 2) as [string, string | undefined];
  const targetPath = rawPath === '' ? link.file : path.resolve(path.dirname(link.file), decodeURIComponent(rawPath));
  if (!targetPath.startsWith(ROOT + path.sep) && targetPath !== ROOT) {
    return 'points outside the repository';
  }
  if (!fs.existsSync(targetPath)) {
    return `${path.relative(ROOT, targetPath)} does not exist`;
  }
  if (anchor !== undefined && anchor !== '' && targetPath.endsWith('.md')) {
    const anchors = headingAnchors(fs.readFileSync(targetPath, 'utf8'));
    if (!anchors.has(decodeURIComponent(anchor))) {
      return `${path.relative(ROOT, targetPath)} has no heading with anchor #${anchor}`;
    }
  }
  return undefined;
}

describe('documentation links', () => {
  const files = markdownFiles();

  test('the README and the docs pages are found', () => {
    const names = files.map((file) => path.relative(ROOT, file));
    expect(names).toEqual(expect.arrayContaining(['README.md', path.join('docs', 'constructs', 'data-stream.md')]));
  });

  test('every relative link in README.md and docs/**/*.md points to an existing file (and heading)', () => {
    const links = files.flatMap(relativeLinks);
    expect(links.length).toBeGreaterThan(20);
    const broken = links
      .map((link) => ({ link, problem: problemOf(link) }))
      .filter((entry) => entry.problem !== undefined)
      .map(({ link, problem }) => `${path.relative(ROOT, link.file)}:${link.line}: (${link.target}) ${problem}`);
    expect(broken).toEqual([]);
  });

  test('the checker finds a broken file link and a broken anchor', () => {
    // Prepare: a page beside the README (not written to disk) with one good and two bad links.
    const file = path.join(ROOT, 'docs', 'example.md');
    const check = (target: string) => problemOf({ file, line: 1, target });
    // Act / Assess
    expect(check('constructs/data-stream.md#props-datastreamprops')).toBeUndefined();
    expect(check('constructs/no-such-page.md')).toMatch(/does not exist/);
    expect(check('constructs/data-stream.md#no-such-heading')).toMatch(/no heading with anchor/);
  });

  test('anchors follow GitHub: punctuation dropped, spaces to hyphens, repeats numbered', () => {
    const anchors = headingAnchors('# A `Code` title: (one, two)\n## Repeat\n## Repeat\n```\n# not a heading\n```\n');
    expect([...anchors]).toEqual(['a-code-title-one-two', 'repeat', 'repeat-1']);
  });
});
