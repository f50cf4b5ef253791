/**
 * Argument checks of the data classes. Pure JavaScript (no tensor or native import) so that the transform
 * code that runs in worker threads can use them too. Messages follow the library's rule: they name the
 * class or function, then say what was expected and what came ("DataLoader: expected batchSize to be an
 * integer ≥ 1 but got 0").
 */

/** A short description of a value for error messages. */
export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'undefined';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'number') return `the number ${value}`;
  if (typeof value === 'object') return `an object (${(value as object).constructor?.name ?? 'Object'})`;
  return typeof value;
}

/** Like describe, but shows a string's text: for values that must be one of a few names. */
export function show(value: unknown): string {
  return typeof value === 'string' ? `'${value}'` : describe(value);
}

/**
 * `options` as a plain object (undefined → {}), after checking that it has no key outside `allowed`:
 * "ImageFolder: unknown option 'cachedir' (expected one of subdir, transform, cacheDir, …)".
 */
export function checkOptionKeys<T extends object>(owner: string, options: T | undefined, allowed: readonly string[]): T {
  if (options === undefined) return {} as T;
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw new TypeError(`${owner}: expected options to be an object but got ${describe(options)}`);
  }
  for (const key of Object.keys(options)) {
    if (!allowed.includes(key)) {
      throw new TypeError(`${owner}: unknown option '${key}' (expected one of ${allowed.join(', ')})`);
    }
  }
  return options;
}

/** An integer ≥ min (and ≤ max). */
export function checkInteger(owner: string, name: string, value: unknown, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `≥ ${min}` : `in [${min}, ${max}]`;
    throw new RangeError(`${owner}: expected ${name} to be an integer ${range} but got ${typeof value === 'number' ? value : describe(value)}`);
  }
  return value;
}

/** A finite number in [min, max]. */
export function checkFinite(owner: string, name: string, value: unknown, min = -Infinity, max = Infinity): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max) {
    const range = min === -Infinity && max === Infinity ? 'a finite number' : `a number in [${min}, ${max}]`;
    throw new RangeError(`${owner}: expected ${name} to be ${range} but got ${typeof value === 'number' ? value : describe(value)}`);
  }
  return value;
}

/** A boolean (undefined → fallback). */
export function checkBoolean(owner: string, name: string, value: unknown, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') throw new TypeError(`${owner}: expected ${name} to be a boolean but got ${describe(value)}`);
  return value;
}

/** A non-empty string. */
export function checkString(owner: string, name: string, value: unknown): string {
  if (typeof value !== 'string' || value.length === 0) {
    throw new TypeError(`${owner}: expected ${name} to be a non-empty string but got ${value === '' ? 'an empty string' : describe(value)}`);
  }
  return value;
}

/** `number | [h, w]` → [h, w] of integers ≥ min. */
export function checkSize(owner: string, name: string, value: unknown, min = 1): [number, number] {
  if (typeof value === 'number') {
    checkInteger(owner, name, value, min);
    return [value, value];
  }
  if (!Array.isArray(value) || value.length !== 2) {
    throw new TypeError(`${owner}: expected ${name} to be an integer or a pair [height, width] but got ${describe(value)}`);
  }
  return [checkInteger(owner, `${name}[0]`, value[0], min), checkInteger(owner, `${name}[1]`, value[1], min)];
}
