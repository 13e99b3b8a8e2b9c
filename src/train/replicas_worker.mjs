// Bootstrap of a training replica's worker thread (see replicas.ts): workers do not inherit the
// tsx loader that bin/exp.js registers in the main thread, so register it here, then load the
// TypeScript worker module.
import { register } from 'tsx/esm/api';

register();
await import('./replicas_worker.ts');
