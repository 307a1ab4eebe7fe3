/**
 * Fenced code blocks of the Markdown docs, for the tests that run them as written
 * (README.md, docs/deployment.md).
 *
 * A block is a line "```lang" ... "```". An HTML comment `<!-- not-run: reason -->` on the
 * closest non-blank line above the fence marks a JavaScript block that is not meant to run.
 */
import * as fs from 'fs';

export interface Snippet {
  /** The fence language (`js`, `mjs`, `sh`, `html`, ...). */
  lang: string;
  /** The code between the fences. */
  code: string;
  /** 1-based line number of the opening fence. */
  line: number;
  /** The closest `##`/`###` heading above the block. */
  heading: string;
  /** The reason given by `<!-- not-run: reason -->` above the fence, if any. */
  notRun?: string;
  /** The file name the block names in a first-line comment (`// predict.js: ...`), if any. */
  fileName?: string;
}

/** Every fenced block of a Markdown file, in order. */
export function extractSnippets(file: string): Snippet[] {
  const lines = fs.readFileSync(file, 'utf8').split('\n');
  const out: Snippet[] = [];
  let heading = '';
  for (let i = 0; i < lines.length; i++) {
    const text = lines[i] as string;
    const h = /^#{2,3}\s+(.*)$/.exec(text);
    if (h) heading = (h[1] as string).trim();
    const open = /^```(\w*)\s*$/.exec(text);
    if (!open) continue;
    const start = i;
    const body: string[] = [];
    for (i++; i < lines.length && !/^```\s*$/.test(lines[i] as string); i++) body.push(lines[i] as string);
    if (i >= lines.length) throw new Error(`${file}:${start + 1}: unterminated code fence`);
    let above = start - 1;
    while (above >= 0 && (lines[above] as string).trim() === '') above--;
    const marker = above >= 0 ? /^<!--\s*not-run:\s*(.*?)\s*-->$/.exec((lines[above] as string).trim()) : null;
    const code = body.join('\n') + '\n';
    const named = /^\/\/\s*([\w.-]+\.m?js)\b/.exec(body[0] ?? '');
    out.push({
      lang: open[1] as string,
      code,
      line: start + 1,
      heading,
      ...(marker ? { notRun: marker[1] as string } : {}),
      ...(named ? { fileName: named[1] as string } : {}),
    });
  }
  return out;
}

/** True for a JavaScript block written as an ES module (`mjs` fence, or import/export statements). */
export function isEsm(snippet: Snippet): boolean {
  return snippet.lang === 'mjs' || /^(import|export)\s/m.test(snippet.code);
}

/** The JavaScript blocks (```js and ```mjs). */
export function jsSnippets(file: string): Snippet[] {
  return extractSnippets(file).filter((s) => s.lang === 'js' || s.lang === 'mjs');
}

/** The block whose first line names `fileName` (`// predict.js: ...`); throws if absent or repeated. */
export function snippetNamed(file: string, fileName: string): Snippet {
  const found = jsSnippets(file).filter((s) => s.fileName === fileName);
  if (found.length !== 1) {
    throw new Error(`${file}: expected one JavaScript block starting with '// ${fileName}', found ${found.length}`);
  }
  return found[0] as Snippet;
}

/**
 * The packages of the one `npm install ...` line in the ```sh blocks under `heading` (the README's
 * Quick start install line), in order; throws unless there is exactly one such line.
 */
export function npmInstallPackages(file: string, heading: string): string[] {
  const lines = extractSnippets(file)
    .filter((s) => s.lang === 'sh' && s.heading === heading)
    .flatMap((s) => s.code.split('\n'))
    .map((line) => line.trim())
    .filter((line) => /^npm (install|i)\s/.test(line));
  if (lines.length !== 1) throw new Error(`${file}: expected one 'npm install' line in the sh blocks under '${heading}', found ${lines.length}`);
  return (lines[0] as string).split(/\s+/).slice(2).filter((arg) => !arg.startsWith('-'));
}
