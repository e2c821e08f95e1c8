import { startServer } from '../main.js';

export default function start(_argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  return startServer(env);
}
