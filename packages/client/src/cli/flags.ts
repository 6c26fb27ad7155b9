/** A CLI usage error: printed as one line, exit status 2. */
export class CliError extends Error {
  override name = 'CliError';
}

type FlagKinds = Record<string, 'string' | 'boolean'>;

/** `--name value`, `--name=value` and boolean `--flag`; unknown flags are errors that name them. */
export function parseFlags(argv: readonly string[], kinds: FlagKinds, usage: string): { flags: Record<string, string | boolean | undefined>; positional: string[] } {
  const flags: Record<string, string | boolean | undefined> = {};
  const positional: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith('--') || a === '--') {
      if (a !== '--') positional.push(a);
      continue;
    }
    const eq = a.indexOf('=');
    const name = a.slice(2, eq < 0 ? undefined : eq);
    const kind = kinds[name];
    if (!kind) throw new CliError(`unknown option --${name}; usage: ${usage}`);
    if (kind === 'boolean') {
      if (eq >= 0) throw new CliError(`--${name} takes no value`);
      flags[name] = true;
    } else {
      const v = eq >= 0 ? a.slice(eq + 1) : argv[++i];
      if (v === undefined || (eq < 0 && v.startsWith('--'))) throw new CliError(`--${name} needs a value; usage: ${usage}`);
      flags[name] = v;
    }
  }
  return { flags, positional };
}
