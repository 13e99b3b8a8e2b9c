// A minimal Language Server Protocol client for tests: starts the real yaml-language-server (the
// npm package editors embed) over stdio, opens documents and collects what an editor would show:
// diagnostics, hovers and completions. JSON-RPC framing is "Content-Length: N\r\n\r\n<json>".
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

export interface Position { line: number; character: number } // 0-based, as LSP
export interface Diagnostic { range: { start: Position; end: Position }; message: string; severity?: number; source?: string }
export interface Hover { contents: { kind: string; value: string } | string }
export interface CompletionItem { label: string; documentation?: string | { kind: string; value: string }; detail?: string }

type Message = { id?: number; method?: string; params?: any; result?: any; error?: { message: string } };

const SERVER = createRequire(import.meta.url).resolve('yaml-language-server/bin/yaml-language-server');

export class YamlLanguageServer {
  private readonly proc: ChildProcessWithoutNullStreams;
  private buffer = Buffer.alloc(0);
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (v: any) => void; reject: (e: Error) => void }>();
  private readonly diagnostics = new Map<string, { version: number; items: Diagnostic[] }>();
  private readonly waiters: Array<() => void> = [];
  private readonly versions = new Map<string, number>();
  stderr = '';

  /** `schemas`: schema file -> globs, the `yaml.schemas` setting (files without a `$schema` line). */
  constructor(private readonly settings: { schemas?: Record<string, string[]> } = {}) {
    this.proc = spawn(process.execPath, [SERVER, '--stdio'], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.proc.stdout.on('data', (chunk: Buffer) => this.onData(chunk));
    this.proc.stderr.on('data', (chunk: Buffer) => { this.stderr += chunk.toString(); });
  }

  async start(rootDir: string): Promise<void> {
    await this.request('initialize', {
      processId: process.pid,
      rootUri: pathToFileURL(rootDir).href,
      capabilities: {
        textDocument: {
          publishDiagnostics: { versionSupport: true },
          hover: { contentFormat: ['markdown', 'plaintext'] },
          completion: { completionItem: { documentationFormat: ['markdown', 'plaintext'], snippetSupport: true } },
        },
        workspace: { configuration: true, didChangeConfiguration: { dynamicRegistration: true } },
      },
    });
    this.notify('initialized', {});
    this.notify('workspace/didChangeConfiguration', { settings: this.config() });
  }

  private config(): Record<string, unknown> {
    // What VS Code's YAML extension sends by default, plus the schema associations.
    return {
      yaml: { validate: true, hover: true, completion: true, format: { enable: false }, schemas: this.settings.schemas ?? {}, schemaStore: { enable: false } },
      'yaml.schemas': this.settings.schemas ?? {},
    };
  }

  /** Opens (or re-opens with new text) a document and waits for its diagnostics. */
  async diagnose(file: string, text = readFileSync(file, 'utf8')): Promise<Diagnostic[]> {
    const uri = pathToFileURL(file).href;
    const version = (this.versions.get(uri) ?? 0) + 1;
    this.versions.set(uri, version);
    if (version === 1) {
      this.notify('textDocument/didOpen', { textDocument: { uri, languageId: 'yaml', version, text } });
    } else {
      this.notify('textDocument/didChange', { textDocument: { uri, version }, contentChanges: [{ text }] });
    }
    const deadline = Date.now() + 30_000;
    for (;;) {
      const d = this.diagnostics.get(uri);
      if (d && d.version >= version) return d.items;
      if (Date.now() > deadline) throw new Error(`no diagnostics for ${file} within 30 s; server stderr:\n${this.stderr}`);
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve);
        setTimeout(resolve, 200);
      });
    }
  }

  async hover(file: string, position: Position): Promise<Hover | null> {
    return this.request('textDocument/hover', { textDocument: { uri: pathToFileURL(file).href }, position });
  }

  async complete(file: string, position: Position): Promise<CompletionItem[]> {
    const r = await this.request('textDocument/completion', { textDocument: { uri: pathToFileURL(file).href }, position });
    return Array.isArray(r) ? r : r?.items ?? [];
  }

  async stop(): Promise<void> {
    try {
      await this.request('shutdown', null);
      this.notify('exit', null);
    } finally {
      await new Promise<void>((resolve) => {
        if (this.proc.exitCode !== null) return resolve();
        const timer = setTimeout(() => this.proc.kill(), 5000);
        this.proc.once('exit', () => { clearTimeout(timer); resolve(); });
      });
    }
  }

  private send(msg: Message & { jsonrpc?: string }): void {
    const body = Buffer.from(JSON.stringify({ jsonrpc: '2.0', ...msg }), 'utf8');
    this.proc.stdin.write(`Content-Length: ${body.length}\r\n\r\n`);
    this.proc.stdin.write(body);
  }

  private notify(method: string, params: unknown): void {
    this.send({ method, params });
  }

  private request(method: string, params: unknown): Promise<any> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.send({ id, method, params });
    });
  }

  private onData(chunk: Buffer): void {
    this.buffer = Buffer.concat([this.buffer, chunk]);
    for (;;) {
      const headerEnd = this.buffer.indexOf('\r\n\r\n');
      if (headerEnd < 0) return;
      const m = /Content-Length: (\d+)/i.exec(this.buffer.subarray(0, headerEnd).toString());
      if (!m) throw new Error(`bad LSP header: ${this.buffer.subarray(0, headerEnd).toString()}`);
      const start = headerEnd + 4;
      const end = start + Number(m[1]);
      if (this.buffer.length < end) return;
      const msg = JSON.parse(this.buffer.subarray(start, end).toString('utf8')) as Message;
      this.buffer = this.buffer.subarray(end);
      this.dispatch(msg);
    }
  }

  private dispatch(msg: Message): void {
    if (msg.id !== undefined && msg.method === undefined) {
      const p = this.pending.get(msg.id);
      this.pending.delete(msg.id);
      if (msg.error) p?.reject(new Error(msg.error.message));
      else p?.resolve(msg.result);
      return;
    }
    if (msg.method === 'textDocument/publishDiagnostics') {
      const { uri, version, diagnostics } = msg.params as { uri: string; version?: number; diagnostics: Diagnostic[] };
      this.diagnostics.set(uri, { version: version ?? this.versions.get(uri) ?? 0, items: diagnostics });
      this.waiters.splice(0).forEach((w) => w());
      return;
    }
    if (msg.id !== undefined) {
      // A request from the server: configuration sections, or registrations to acknowledge.
      if (msg.method === 'workspace/configuration') {
        const cfg = this.config();
        const items = (msg.params as { items: Array<{ section?: string }> }).items;
        this.send({ id: msg.id, result: items.map((i) => (i.section ? i.section.split('.').reduce<any>((o, k) => o?.[k], cfg) ?? cfg[i.section] ?? null : cfg)) });
      } else {
        this.send({ id: msg.id, result: null });
      }
    }
  }
}
