import type { z } from 'zod';

/** At most this many issues are spelled out in one message; the rest are counted. */
export const zodIssuesShownMax = 5;

/** A dotted path as a reader would write it: `segments[3].checksum`. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : out === '' ? String(p) : `.${String(p)}`;
  return out === '' ? '(root)' : out;
}

/**
 * One line describing why a value failed validation, naming each bad field:
 * `segments[3].checksum: expected 64 hex characters; type: unknown command type`.
 */
export function formatZodError(error: z.core.$ZodError): string {
  const issues = error.issues;
  const shown = issues.slice(0, zodIssuesShownMax).map((issue) => `${formatPath(issue.path)}: ${issue.message}`);
  if (issues.length > zodIssuesShownMax) shown.push(`and ${issues.length - zodIssuesShownMax} more`);
  return shown.join('; ');
}
