/**
 * A command that has printed its whole result and only needs a non-zero exit status (`--check` with
 * warnings, as `docker build --check`; `debug --exec`, whose status is the command's) throws this;
 * `main` returns the status without printing more.
 */
export class ExitStatus extends Error {
  constructor(readonly status: number) {
    super(`exit status ${status}`);
  }
}
