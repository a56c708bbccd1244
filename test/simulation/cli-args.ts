/**
 * The arguments of a command-line tool (simulation, mutants) parsed by `parse`, or the exit code when they
 * end the run: 0 after printing `usage` for `--help`, 2 after printing the problem and `usage` to stderr.
 */
export function argsOrExitCode<A extends object>(
  argv: readonly string[],
  usage: string,
  parse: (argv: readonly string[]) => A | string,
): A | number {
  if (argv.includes('--help')) {
    process.stdout.write(`${usage}\n`);
    return 0;
  }
  const args = parse(argv);
  if (typeof args === 'string') {
    process.stderr.write(`${args}\n\n${usage}\n`);
    return 2;
  }
  return args;
}
