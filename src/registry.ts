// One generic registry for every pluggable kind (backbones, losses, optimizers, schedules,
// augmentations, dataset formats, backends). Unknown names fail listing the choices.
import { UserError } from './errors.ts';

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
      throw new UserError(
        `unknown ${this.kind} '${name}'. Available: ${this.names().join(', ')}`,
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
