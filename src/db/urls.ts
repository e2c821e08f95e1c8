/** `url` with another database and, when given, other credentials. */
export function connectionUrl(url: string, database: string, user?: string, password?: string): string {
  const result = new URL(url);
  result.pathname = `/${encodeURIComponent(database)}`;
  if (user !== undefined) result.username = encodeURIComponent(user);
  if (password !== undefined) result.password = encodeURIComponent(password);
  return result.toString();
}

/** The database `url` connects to: its path, else (as libpq and pg decide) its user's name. */
export function databaseOfUrl(url: string): string {
  const parsed = new URL(url);
  const name = decodeURIComponent(parsed.pathname.replace(/^\//, '')) || decodeURIComponent(parsed.username);
  if (!name) throw new TypeError('the connection URL names no database');
  return name;
}
