// One generic registry for every pluggable kind (backbones, losses, optimizers, schedules,
// samplers, dataset formats, backends). Unknown names fail listing the choices. Registries are
// the only source of names: `npm run gen` copies them into the experiment schema's enums (so
// `exp validate` and editors know them) and into src/registry-names.gen.ts.
import { UserError } from './errors.ts';
import { suggest } from './config/didyoumean.ts';

export interface Entry<T> {
  name: string;
  description: string;
  value: T;
}

export class Registry<T> {
  private readonly entries = new Map<string, Entry<T>>();
  constructor(readonly kind: string) {}

  register(name: string, description: string, value: T): T {
    if (this.entries.has(name)) throw new Error(`${this.kind} '${name}' registered twice`);
    this.entries.set(name, { name, description, value });
    return value;
  }

  has(name: string): boolean {
    return this.entries.has(name);
  }

  get(name: string): T {
    const e = this.entries.get(name);
    if (!e) {
      const near = suggest(name, this.names());
      throw new UserError(
        `unknown ${this.kind} '${name}'${near ? `; did you mean '${near}'?` : '.'} Available: ${this.names().join(', ')}`,
      );
    }
    return e.value;
  }

  names(): string[] {
    return [...this.entries.keys()];
  }

  list(): Entry<T>[] {
    return [...this.entries.values()];
  }
}
