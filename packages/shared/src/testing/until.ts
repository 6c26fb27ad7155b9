/**
 * Polls `ok` every few milliseconds until it holds, for tests that wait on something another
 * loop or process does; fails naming `what` after `timeoutMs` (a deadline, never a sleep as a
 * wait).
 */
export async function until(what: string, ok: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}
