import { ConfigError } from '../../src/config.js';

/** The problems a ConfigError lists when `fn` throws one ([] when it does not throw; other errors pass through). */
export function problemsOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  return [];
}
