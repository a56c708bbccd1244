/** A bad argument, flag value or file named on the command line; the message names it and what is allowed. */
export class ArgumentError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'ArgumentError';
  }
}
