// Bootstrap of the TUI's background run (a worker thread). A Worker cannot start from a .ts file
// and the TypeScript loader of the main thread is not inherited by worker threads in every Node
// version, so register tsx here, then load the TypeScript worker.
import { register } from 'tsx/esm/api';

register();
await import('./run-worker.ts');
