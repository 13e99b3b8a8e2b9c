// Reads one YAML experiment file into a Layer (value + source positions) with the `yaml`
// package's Document API and a LineCounter. Syntax errors (tabs, duplicate keys, bad
// indentation, unclosed quotes) become located Problems instead of exceptions.
import { parseDocument, LineCounter, isMap as isYamlMap, isSeq, isScalar, type Node, type YAMLError } from 'yaml';
import type { Problem } from '../errors.ts';
import type { Layer, Origin, SourceNode } from './source.ts';

export interface ParsedFile {
  layer: Layer;
  problems: Problem[];
}

// Why-and-how hints for the syntax errors people actually make in experiment files.
const HINTS: Record<string, string> = {
  TAB_AS_INDENT: 'indent with spaces',
  BAD_INDENT: 'check this line\'s indentation against the lines around it',
  BLOCK_AS_IMPLICIT_KEY: 'a key is indented deeper than the key before it, or a value contains ": " (quote such values)',
  MISSING_CHAR: 'close the quote or bracket',
};

export function parseYamlText(text: string, origin: { file: string; abs?: string }): ParsedFile {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const at = (offset: number): Origin => ({ ...origin, ...lineCounter.linePos(offset) });
  const problems: Problem[] = [];
  const seen = new Set<string>();
  const report = (e: YAMLError, severity: 'error' | 'warning'): void => {
    const pos = at(e.pos[0]);
    const where = `${pos.line}:${pos.col}`;
    // The parser often reports one mistake twice at one position (e.g. MULTILINE_IMPLICIT_KEY
    // after BLOCK_AS_IMPLICIT_KEY); the first is the clearer one.
    if (seen.has(where)) return;
    seen.add(where);
    let message = e.message.charAt(0).toLowerCase() + e.message.slice(1);
    if (e.code === 'DUPLICATE_KEY') {
      const key = /^[^:\n]*/.exec(text.slice(e.pos[0]))![0].trim();
      message = `duplicate key '${key}'; a key may appear only once in a map (the later value would silently win)`;
    } else if (HINTS[e.code]) {
      message += `: ${HINTS[e.code]}`;
    }
    problems.push({ file: pos.file, line: pos.line, col: pos.col, message: `YAML: ${message}`, severity });
  };
  doc.errors.forEach((e) => report(e, 'error'));
  doc.warnings.forEach((e) => report(e, 'warning'));

  const rootOrigin = doc.contents?.range ? at(doc.contents.range[0]) : at(0);
  let value: unknown = null;
  try {
    value = doc.toJS({ maxAliasCount: 1000 });
  } catch (e) {
    problems.push({ ...rootOrigin, message: `YAML: ${(e as Error).message}`, severity: 'error' });
  }
  const source: SourceNode = doc.contents ? sourceOf(doc.contents, at) : { value: rootOrigin };
  source.value = rootOrigin;
  return { layer: { value, source }, problems };
}

function sourceOf(node: Node, at: (offset: number) => Origin): SourceNode {
  const out: SourceNode = { value: node.range ? at(node.range[0]) : undefined };
  if (isYamlMap(node)) {
    out.children = new Map();
    for (const pair of node.items) {
      const keyNode = pair.key as Node | null;
      const name = isScalar(keyNode) ? String(keyNode.value) : String(keyNode);
      const keyOrigin = keyNode?.range ? at(keyNode.range[0]) : undefined;
      const valueNode = pair.value as Node | null;
      const child: SourceNode = valueNode ? sourceOf(valueNode, at) : {};
      child.key = keyOrigin;
      // An empty value (`test:`) has no range of its own: point at its key.
      child.value ??= keyOrigin;
      out.children.set(name, child);
    }
  } else if (isSeq(node)) {
    out.children = new Map();
    node.items.forEach((item, i) => {
      if (item) out.children!.set(String(i), sourceOf(item as Node, at));
    });
  }
  return out;
}
