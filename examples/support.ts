/**
 * The one helper the examples share: every wait in an example is bounded, so a broker that never answers
 * (or a message that never arrives) ends the example with a clear error instead of hanging it.
 */

/** resolve or reject as `promise` does, or reject once `ms` have passed, naming `what` was awaited */
export async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
