/** Where a command writes: its results to `out` (stdout), its error lines to `err` (stderr). */
export interface CommandIo {
  out(text: string): void;
  err(text: string): void;
}
