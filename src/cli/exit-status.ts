/** Thrown by a command whose exit status is another process's (`debug --exec`): no message, that status. */
export class ExitStatus extends Error {
  constructor(readonly status: number) {
    super(`exit status ${status}`);
  }
}
