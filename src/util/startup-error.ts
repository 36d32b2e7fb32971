/**
 * A reason the broker cannot start that is the operator's to fix, not a bug: the data directory is in use
 * by another broker, a port is taken. `postbox serve` prints its message as one line (no stack trace) and
 * exits 1; startBroker() throws it. Raised before anything in the data directory is read or changed.
 */
export class StartupError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StartupError';
  }
}
