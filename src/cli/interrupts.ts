import { EXIT_SIGINT } from '../common/exit-codes.js';
import { writeErr } from './output.js';

/**
 * SIGINT/SIGTERM during a command that must not stop halfway (`spawn`, `remove`): the first is
 * noted, and the command finishes or rolls back what it started, then says which in one line;
 * a second ends the process at once (running the same command again finishes what it left).
 */
export function watchInterrupts(command: string): { signal: () => NodeJS.Signals | undefined; arrived: Promise<void>; dispose(): void } {
  let signal: NodeJS.Signals | undefined;
  let wake!: () => void;
  const arrived = new Promise<void>((resolve) => (wake = resolve));
  let echo: NodeJS.Signals | undefined;
  const onSignal = (name: NodeJS.Signals) => {
    if (echo === name) {
      echo = undefined;
      return;
    }
    if (signal) {
      writeErr(`exai: ${name} again; stopping now — run the same exai ${command} again to finish what this one left`);
      process.exit(EXIT_SIGINT);
    }
    signal = name;
    // conf's atomic writes (atomically, when-exit) hook every signal once, and on it clean up
    // and send the same signal to this process again: that echo is not the user's second one.
    if (process.listeners(name).some((l) => l !== onSignal)) echo = name;
    wake();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return {
    signal: () => signal,
    arrived,
    dispose() {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    },
  };
}

/**
 * The tests' way to interrupt a command at a known step (test/interrupted-*.test.ts): with
 * EXAI_TEST_PAUSE_AT=<step> under vitest (VITEST set), the command prints a marker line on
 * stderr at that step and waits there for a signal. Never on otherwise.
 */
export function testPause<Step extends string>(arrived: Promise<void>): ((step: Step) => Promise<void>) | undefined {
  const at = process.env.VITEST ? process.env.EXAI_TEST_PAUSE_AT : undefined;
  if (!at) return undefined;
  return async (step) => {
    if (step !== at) return;
    writeErr(`exai-test: paused at ${step}`);
    await arrived;
  };
}
