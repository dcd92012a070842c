/**
 * `record[key]`, for the record's own keys only: a key read from a user's
 * file (an image, a command, a codename) such as `constructor` must not find
 * a member of Object.prototype.
 */
export function own<T>(record: Readonly<Record<string, T>>, key: string): T | undefined {
  return Object.hasOwn(record, key) ? record[key] : undefined;
}
