import { type ParseArgsConfig, parseArgs } from 'node:util';
import { type MasterKeys, readMasterKeys } from '../crypto/master-keys.js';
import type { Product } from '../product.js';

/** One option of a command, as `util.parseArgs` takes it, plus what its help shows. */
export interface OptionSpec {
  readonly type: 'string' | 'boolean';
  /** The value's name in the help (`URL`, `ID`); string options only. */
  readonly value?: string;
  readonly multiple?: boolean;
  /** Missing: a usage error (exit 2) before the command runs. */
  readonly required?: boolean;
  readonly help: string;
}

export interface PositionalSpec {
  readonly name: string;
  readonly help: string;
}

type Options = Readonly<Record<string, OptionSpec>>;

/** What parseArgs gives for `options`: a string or boolean per option, a list when `multiple`. */
export type Values<O extends Options> = {
  [K in keyof O]?: O[K] extends { type: 'boolean' }
    ? O[K] extends { multiple: true }
      ? boolean[]
      : boolean
    : O[K] extends { multiple: true }
      ? string[]
      : string;
};

export interface CommandSpec<O extends Options = Options> {
  /** As typed after `tenantql`: `start`, `db setup`. */
  readonly name: string;
  /** One line for the command list. */
  readonly summary: string;
  /** What follows `tenantql <name>` on each usage line. @default built from options and positionals */
  readonly usage?: readonly string[];
  /** Paragraphs printed under the usage. */
  readonly description?: string;
  readonly options?: O;
  /** Optional, in order; more arguments than these are a usage error. */
  readonly positionals?: readonly PositionalSpec[];
  /** The environment variables the command reads, each with a line of help. */
  readonly env?: Readonly<Record<string, string>>;
  /**
   * Runs the command; resolves with its exit code. Modules it needs beyond its arguments are
   * imported here, not at the top, so `--help` and the command list load nothing else.
   */
  run(
    args: { values: Values<O>; positionals: string[] },
    env: NodeJS.ProcessEnv,
    product: LoadProduct,
  ): Promise<number>;
}

/** The product a command serves, loaded when a command first needs it. */
export type LoadProduct = () => Promise<Product | undefined>;

/** tenantql's own tables and types only (the commands' tests). */
const noProduct: LoadProduct = async () => undefined;

/**
 * A command: argv (after its name), env and the product in, exit code out; `spec` is what its
 * help prints.
 */
export interface Command {
  (argv: string[], env: NodeJS.ProcessEnv, product?: LoadProduct): Promise<number>;
  readonly spec: CommandSpec;
}

/** Thrown by a command's run() for a wrong argument: the message and the usage go to stderr, exit 2. */
export class UsageError extends Error {}

const HELP_OPTION: OptionSpec = { type: 'boolean', help: 'print this help and exit' };

/**
 * Parses argv with node's util.parseArgs (strict) against the spec. `--help` or `-h` anywhere
 * before a `--` prints the help on stdout and does nothing else; a wrong option or argument
 * prints one line and the usage on stderr, exit 2.
 */
export function defineCommand<const O extends Options>(spec: CommandSpec<O>): Command {
  const options = Object.fromEntries(
    Object.entries({ ...spec.options, help: HELP_OPTION }).map(([name, option]) => [
      name,
      {
        type: option.type,
        ...(option.multiple ? { multiple: true } : {}),
        ...(name === 'help' ? { short: 'h' } : {}),
      },
    ]),
  );
  const command = async (
    argv: string[],
    env: NodeJS.ProcessEnv,
    product: LoadProduct = noProduct,
  ): Promise<number> => {
    if (asksForHelp(argv, options)) {
      process.stdout.write(formatHelp(spec));
      return 0;
    }
    try {
      const { values, positionals } = parseArgs({
        args: argv,
        options,
        strict: true,
        allowPositionals: (spec.positionals?.length ?? 0) > 0,
      });
      const extra = positionals[spec.positionals?.length ?? 0];
      if (extra !== undefined) throw new UsageError(`unexpected argument '${extra}'`);
      for (const [name, option] of Object.entries(spec.options ?? {})) {
        if (option.required && values[name] === undefined) throw new UsageError(`--${name} is required`);
      }
      return await spec.run({ values: values as Values<O>, positionals }, env, product);
    } catch (error) {
      // parseArgs' own errors carry an ERR_PARSE_ARGS_* code; anything else is not a usage error.
      const code = (error as { code?: unknown }).code;
      if (!(error instanceof UsageError) && !(typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS')))
        throw error;
      const message = (error as Error).message.replaceAll('\n', ' ');
      process.stderr.write(`tenantql ${spec.name}: ${message}\n${formatUsage(spec)}`);
      return 2;
    }
  };
  return Object.assign(command, { spec: spec as unknown as CommandSpec });
}

/** A help option among argv's options (not a value of another option, nor after `--`). */
function asksForHelp(argv: string[], options: ParseArgsConfig['options']): boolean {
  const { tokens } = parseArgs({ args: argv, options, strict: false, allowPositionals: true, tokens: true });
  return tokens.some((token) => token.kind === 'option' && token.name === 'help');
}

export function formatUsage(spec: CommandSpec): string {
  const lines = spec.usage ?? [defaultUsage(spec)];
  return lines
    .map((line, i) => `${i === 0 ? 'usage:' : '      '} tenantql ${spec.name}${line ? ` ${line}` : ''}\n`)
    .join('');
}

export function formatHelp(spec: CommandSpec): string {
  const options: [string, string][] = Object.entries(spec.options ?? {}).map(([name, option]) => [
    `--${name}${option.value ? ` ${option.value}` : ''}`,
    option.required ? `${option.help} (required)` : option.help,
  ]);
  options.push(['-h, --help', HELP_OPTION.help]);
  const sections = [
    formatUsage(spec),
    `${(spec.description ?? `${spec.summary[0]!.toUpperCase()}${spec.summary.slice(1)}.`).trimEnd()}\n`,
  ];
  if (spec.positionals?.length)
    sections.push(`Arguments:\n${table(spec.positionals.map((p) => [p.name, p.help]))}`);
  sections.push(`Options:\n${table(options)}`);
  if (spec.env && Object.keys(spec.env).length)
    sections.push(`Environment:\n${table(Object.entries(spec.env))}`);
  return sections.join('\n');
}

/** Two columns, the second aligned; a cell too wide for the first column gets a line of its own. */
export function table(rows: readonly (readonly [string, string])[]): string {
  const width = Math.min(28, Math.max(...rows.map(([left]) => left.length)) + 2);
  return rows
    .map(([left, right]) =>
      left.length + 2 > width
        ? `  ${left}\n  ${' '.repeat(width)}${right}\n`
        : `  ${left.padEnd(width)}${right}\n`,
    )
    .join('');
}

function defaultUsage(spec: CommandSpec): string {
  const options = Object.entries(spec.options ?? {}).map(([name, option]) => {
    const text = `--${name}${option.value ? ` ${option.value}` : ''}`;
    const repeated = option.multiple ? `[${text}]...` : text;
    return option.required ? repeated : option.multiple ? repeated : `[${text}]`;
  });
  const positionals = (spec.positionals ?? []).map((p) => `[${p.name}]`);
  return [...options, ...positionals].join(' ');
}

/** The tenant id a lifecycle command is given, or a usage error. */
export function tenantIdArgument(value: string | undefined): number {
  if (value === undefined) throw new UsageError('the tenant ID is required');
  if (!/^[1-9][0-9]{0,9}$/.test(value)) throw new UsageError(`'${value}' is not a tenant id`);
  return Number(value);
}

/** A connection URL from `env[name]`, or a usage error naming the variable (and `hint`). */
export function urlFromEnv(env: NodeJS.ProcessEnv, name: string, hint?: string): string {
  const url = env[name];
  if (!url) throw new UsageError(`${name} is not set${hint ? ` (${hint})` : ''}`);
  if (!URL.canParse(url)) throw new UsageError(`${name} is not a URL`);
  return url;
}

/**
 * TENANT_MASTER_KEY (and _NEW) from the environment only, never an argument (SPEC §12): each
 * problem or warning is one line through `say`, naming the variable, never the value.
 */
export function masterKeysFromEnv(
  env: NodeJS.ProcessEnv,
  say: (line: string) => void,
): MasterKeys | undefined {
  const keys = readMasterKeys(env, env.NODE_ENV === 'production');
  if (!keys.ok) {
    for (const problem of keys.problems) say(problem);
    return undefined;
  }
  for (const warning of keys.warnings) say(warning);
  return keys.keys;
}
