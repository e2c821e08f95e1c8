/**
 * A start-up failure an operator can fix. Its message names the cause and the setting to
 * change, one plain line (a list of problems: a line each); `tenantql start` prints it with no
 * stack and exits 1.
 */
export class StartupFailure extends Error {
  override readonly name = 'StartupFailure';
}
