/** `text` as a regular expression that matches it literally: for names a repository writes. */
export function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
