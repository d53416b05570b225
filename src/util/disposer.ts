/**
 * Releases resources in reverse order of acquisition (Node 20 has no AsyncDisposableStack). Use with
 * try/finally: `const d = new Disposer(); try { d.use(await x()) … } finally { await d.dispose(); }`.
 * Every resource is released even when an earlier release fails; the first failure is rethrown.
 */
export class Disposer {
  readonly #stack: AsyncDisposable[] = [];

  use<T extends AsyncDisposable>(resource: T): T {
    this.#stack.push(resource);
    return resource;
  }

  defer(release: () => Promise<void> | void): void {
    this.#stack.push({ [Symbol.asyncDispose]: async () => { await release(); } });
  }

  async dispose(): Promise<void> {
    const failures: unknown[] = [];
    while (this.#stack.length > 0) {
      const resource = this.#stack.pop();
      try {
        await resource?.[Symbol.asyncDispose]();
      } catch (error) {
        failures.push(error);
      }
    }
    if (failures.length > 0) throw failures[0];
  }
}
