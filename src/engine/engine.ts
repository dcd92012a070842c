import {
  editIntoOpenContinuation,
  newProblems,
  shellNewlyBroken,
  structuralProblems,
  type Problem,
} from "./check.ts";
import { applyEdits, selectChanges } from "./edits.ts";
import { NotLoadedYet } from "./lazy.ts";
import { LineMap } from "./line-map.ts";
import { loadFallbackParser, parseEdited, parseSource, type DockerfileModel } from "./parse.ts";
import { decodeSource, encodeSource, type SourceText } from "./source.ts";
import { forgetReusableParses, initShell } from "./shell.ts";
import { readsTheSame } from "./reads.ts";
import { NO_SUPPRESSIONS, readSuppressions } from "./suppress.ts";
import {
  DEFAULT_OPTIONS,
  PluginFailure,
  type Applicability,
  type BuildContext,
  type Edit,
  type SideFile,
  type Transform,
  type TransformOptions,
  UNSAFE_NOT_APPLIED,
} from "./types.ts";

export interface AppliedChange {
  transform: string;
  line: number;
  message: string;
  rules: string[];
  applicability: Applicability;
}

export interface ReportedRefusal {
  transform: string;
  line: number | null;
  reason: string;
  rules: string[];
}

export interface FileError {
  /** Short machine-readable kind: empty, binary, too-large, unknown-instruction, ... */
  kind: string;
  message: string;
  line: number | null;
}

export interface FileResult {
  /** Original bytes as text (with BOM). */
  original: string;
  /** Rewritten text (with BOM); equals `original` when nothing changed or on error. */
  output: string;
  changed: boolean;
  changes: AppliedChange[];
  refusals: ReportedRefusal[];
  sideFiles: SideFile[];
  error: FileError | null;
}

export interface RunSettings {
  transforms: readonly Transform[];
  options?: TransformOptions;
  /**
   * `--safe`: apply only safe changes and side files; each unsafe one is
   * reported as a refusal (UNSAFE_NOT_APPLIED) instead.
   */
  safeOnly?: boolean;
}

export const MAX_FILE_BYTES = 1024 * 1024;
/**
 * Real Dockerfiles hold at most a few hundred instructions (217 in the 16,000-file corpus). A file
 * of 100,000 one-line instructions fits in 1 MiB, and transforms that look at the rest of a stage
 * for each instruction would spend minutes on it, on the main thread, where no timeout applies.
 */
export const MAX_INSTRUCTIONS = 5000;
const MAX_PASSES_PER_TRANSFORM = 5;
const MAX_ROUNDS = 4;

let checkDeclaredReads = false;

/**
 * Tests only: `true` makes the engine run a transform it would skip for its
 * declared `reads`, and throw when that run changes anything: the declaration
 * left out something the transform reads.
 */
export function setCheckDeclaredReads(on: boolean): void {
  checkDeclaredReads = on;
}

/** Loads both lazy parsers (tree-sitter and dockerfile-ast), for callers that run optimizeFile directly. */
export async function loadParsers(): Promise<void> {
  await Promise.all([initShell(), loadFallbackParser()]);
}

/** Problems that make a file unprocessable, checked before any transform runs. */
export function inputError(raw: string, model: DockerfileModel | null): FileError | null {
  if (raw.includes("\0")) return { kind: "binary", message: "binary file (contains NUL bytes)", line: null };
  if (Buffer.byteLength(raw) > MAX_FILE_BYTES) {
    return { kind: "too-large", message: `file is larger than ${MAX_FILE_BYTES} bytes`, line: null };
  }
  if (raw.replace(/^\uFEFF/, "").trim() === "") return { kind: "empty", message: "empty file", line: null };
  if (!model) return null;
  if (model.instructions.length > MAX_INSTRUCTIONS) {
    return { kind: "too-large", message: `file has more than ${MAX_INSTRUCTIONS} instructions`, line: null };
  }
  const unknown = structuralProblems(model).find((p) => p.key.startsWith("unknown:"));
  if (unknown) return { kind: "unknown-instruction", message: unknown.message, line: unknown.line };
  if (model.stages.length === 0) {
    const first = model.instructions[0];
    return { kind: "no-from", message: "no FROM instruction", line: first ? first.line : null };
  }
  return null;
}

/**
 * Runs the transforms over one Dockerfile. After each transform the result is
 * re-parsed and checked, and a transform whose output adds a problem is
 * undone for this file. The whole pipeline repeats until a round changes
 * nothing, so a second run changes nothing. A transform that changed the text
 * is confirmed by the next round (which runs it again anyway once a later
 * transform has changed the text), except a `multiPass` one, which runs to
 * its own fixed point before the next transform sees the text.
 */
export function optimizeFile(raw: string, context: BuildContext, settings: RunSettings): FileResult {
  const options = settings.options ?? DEFAULT_OPTIONS;
  const base: FileResult = {
    original: raw,
    output: raw,
    changed: false,
    changes: [],
    refusals: [],
    sideFiles: [],
    error: null,
  };
  const early = inputError(raw, null);
  if (early) return { ...base, error: early };
  forgetReusableParses();
  const source = decodeSource(raw);
  let model = parseSource(source);
  const error = inputError(raw, model);
  if (error) return { ...base, error };

  const changes: AppliedChange[] = [];
  const refusals: ReportedRefusal[] = [];
  // Changes --safe held back, from the first round in which each transform
  // held one back: a later round offers it again on dfopt's own text (worded
  // for that text), but an unsafe change may show up only once a safe one made
  // room for it.
  const withheld: ReportedRefusal[] = [];
  const withheldIn = new Map<string, number>();
  const sideFiles = new Map<string, SideFile>();
  // Transforms see the text earlier ones made; what they report is mapped back to the user's lines.
  const lines = new LineMap(model);
  // Texts after each round, for spotting transforms that undo each other. At
  // most MAX_ROUNDS: compared one by one, which is cheaper than hashing them.
  const seen: string[] = [source.text];
  let converged = false;
  // The model each transform last found nothing to change in: transforms are
  // pure, so a later round need not run one again on the same text, nor on a
  // text that differs only where it does not read (its declared `reads`).
  const settledOn: Array<DockerfileModel | null> = settings.transforms.map(() => null);
  for (let round = 0; round < MAX_ROUNDS; round++) {
    const startText = model.text;
    for (const [index, transform] of settings.transforms.entries()) {
      const settled = settledOn[index];
      if (settled?.text === model.text) continue;
      const policy = { reportRefusals: round === 0, safeOnly: settings.safeOnly === true };
      if (sameReads(transform, settled, model)) {
        if (checkDeclaredReads) checkSkipped(transform, model, source, context, options, lines, policy);
        settledOn[index] = model;
        continue;
      }
      let outcome: TransformOutcome;
      try {
        outcome = runTransform(transform, model, source, context, options, lines, policy);
      } catch (e) {
        if (e instanceof NotLoadedYet) throw e;
        // A script nested thousands deep (`$( $( ...`, `((((`) exhausts the stack of a recursive
        // reading, whichever transform first asks for it: the file's shape, not a bug to report.
        if (e instanceof RangeError && /call stack/i.test(e.message)) {
          return {
            ...base,
            error: {
              kind: "too-deep",
              message: "nested too deeply to read (the parser ran out of stack); file left unchanged",
              line: null,
            },
          };
        }
        const message = e instanceof Error ? e.message : String(e);
        const plugin = e instanceof PluginFailure;
        return {
          ...base,
          error: {
            kind: plugin ? "plugin" : "internal",
            message: plugin ? message : `transform ${transform.id} failed: ${message} (please report)`,
            line: null,
          },
        };
      }
      // Refusals are reported from the first round, which saw the user's
      // text; later rounds only see dfopt's own output.
      if (round === 0) refusals.push(...outcome.refusals);
      if (outcome.withheld.length > 0 && (withheldIn.get(transform.id) ?? round) === round) {
        withheldIn.set(transform.id, round);
        withheld.push(...outcome.withheld);
      }
      for (const f of outcome.sideFiles) sideFiles.set(f.path, f);
      if (outcome.model !== model) {
        changes.push(...outcome.changes);
        model = outcome.model;
      }
      settledOn[index] = outcome.settled ? model : null;
    }
    if (model.text === startText) {
      converged = true;
      break;
    }
    if (seen.includes(model.text)) break; // a cycle: transforms undo each other
    seen.push(model.text);
  }
  if (!converged) {
    return {
      ...base,
      error: {
        kind: "no-fixed-point",
        message: "transforms did not reach a stable result; file left unchanged (please report)",
        line: null,
      },
    };
  }
  const output = encodeSource(source, model.text);
  return {
    ...base,
    output,
    changed: output !== raw,
    changes,
    refusals: dedupeRefusals([...refusals, ...dedupeWithheld(withheld)]),
    sideFiles: [...sideFiles.values()],
  };
}

/** `transform` declares what it reads, and reads the same in both models. */
function sameReads(transform: Transform, before: DockerfileModel | null, after: DockerfileModel): boolean {
  return !!transform.reads && before !== null && readsTheSame(before, after, transform.reads);
}

/** A skipped transform run anyway: it must find nothing to change (setCheckDeclaredReads). */
function checkSkipped(...args: Parameters<typeof runTransform>): void {
  const [transform, model] = args;
  const outcome = runTransform(...args);
  if (outcome.model.text !== model.text || !outcome.settled)
    throw new Error(
      `transform ${transform.id} declares reads [${transform.reads?.join(", ")}] but changed a text that ` +
        `differs from one it left alone only outside them:\n${model.text}`,
    );
}

interface TransformOutcome {
  model: DockerfileModel;
  /** Its last pass proposed nothing: `model` is a fixed point of the transform. */
  settled: boolean;
  changes: AppliedChange[];
  refusals: ReportedRefusal[];
  sideFiles: SideFile[];
  /** Unsafe changes and side files not applied under --safe, as refusals. */
  withheld: ReportedRefusal[];
}

function runTransform(
  transform: Transform,
  start: DockerfileModel,
  source: SourceText,
  context: BuildContext,
  options: TransformOptions,
  lines: LineMap,
  policy: { reportRefusals: boolean; safeOnly: boolean },
): TransformOutcome {
  const { reportRefusals, safeOnly } = policy;
  let model = start;
  const recordedBefore = lines.size;
  const changes: AppliedChange[] = [];
  let refusals: ReportedRefusal[] = [];
  let sideFiles: SideFile[] = [];
  const withheld: ReportedRefusal[] = [];
  const applicability = (item: { applicability?: Applicability }) =>
    item.applicability ?? transform.applicability;
  const withhold = (line: number | null, message: string, rules: string[]) =>
    withheld.push({ transform: transform.id, line, reason: `${UNSAFE_NOT_APPLIED}: ${message}`, rules });
  let baseline: Problem[] | null = null;
  let settled = false;
  const passes = transform.multiPass ? MAX_PASSES_PER_TRANSFORM : 1;
  for (let pass = 0; pass < passes; pass++) {
    const result = transform.run({ model, context, options });
    const suppressions = readSuppressions(model);
    const anySuppressed = suppressions !== NO_SUPPRESSIONS;
    const ids = (rules?: string[]) => [transform.id, ...(rules ?? transform.rules ?? [])];
    // Only the first pass saw the text the transform was asked about; later
    // passes see its own output (split-stages would call it multi-stage).
    if (pass === 0 && reportRefusals)
      refusals = result.refusals
        .filter((r) => !anySuppressed || !suppressions.isSuppressed(ids(r.rules), r.line))
        .map((r) => ({
          transform: transform.id,
          line: r.line === null ? null : lines.line(model, r.line),
          reason: lines.text(model, r.reason),
          rules: r.rules ?? transform.rules ?? [],
        }));
    sideFiles =
      anySuppressed && suppressions.isSuppressed([transform.id], null) ? [] : (result.sideFiles ?? []);
    let wanted = result.changes.filter(
      (c) => c.edits.length > 0 && (!anySuppressed || !suppressions.isSuppressed(ids(c.rules), c.line)),
    );
    sideFiles = sideFiles.map((f) => ({ ...f, applicability: applicability(f) }));
    if (safeOnly) {
      for (const f of sideFiles)
        if (applicability(f) === "unsafe")
          withhold(null, f.message.includes(f.path) ? f.message : `${f.path}: ${f.message}`, []);
      sideFiles = sideFiles.filter((f) => applicability(f) === "safe");
      for (const c of wanted)
        if (applicability(c) === "unsafe") withhold(c.line, c.message, c.rules ?? transform.rules ?? []);
      wanted = wanted.filter((c) => applicability(c) === "safe");
    }
    const { accepted } = selectChanges(wanted);
    const edits: Edit[] = [];
    for (const c of accepted) for (const e of c.edits) edits.push(e);
    const text = edits.length === 0 ? model.text : applyEdits(model.text, edits);
    if (text === model.text) {
      settled = true;
      break;
    }
    // A rewrite that outgrows the input cap could not be read by the next run (and a repository can
    // make one grow quadratically: a relative WORKDIR made absolute at each of thousands of levels).
    const tooLarge = text.length > MAX_FILE_BYTES || Buffer.byteLength(text) > MAX_FILE_BYTES;
    const next = tooLarge ? null : parseEdited(model, { ...source, text }, edits);
    baseline ??= structuralProblems(start);
    const absorbed = next && editIntoOpenContinuation(model, edits);
    const added = !next ? [] : absorbed ? [absorbed] : newProblems(baseline, structuralProblems(next));
    const shellBroken = next !== null && added.length === 0 && shellNewlyBroken(start, next);
    if (!next || added.length > 0 || shellBroken) {
      // An absorbed edit is told in lines of the text before the edits; other problems in lines of `next`.
      const why = !next
        ? `it would be larger than ${MAX_FILE_BYTES} bytes`
        : absorbed
          ? lines.text(model, `${absorbed.message} (line ${absorbed.line})`)
          : added.length > 0
            ? lines.text(next, `${added[0].message} (line ${added[0].line})`, edits)
            : "a RUN's shell no longer parses";
      lines.truncate(recordedBefore);
      return {
        // Parsed anew: parseEdited moved shell scripts of `start`'s instructions to
        // `next`'s, and caches keyed by those instructions would read them moved.
        model: parseSource(start.source),
        settled: true,
        changes: [],
        refusals: [
          ...refusals,
          {
            transform: transform.id,
            line: null,
            reason: `rewrite dropped: its result failed the check: ${why}`,
            rules: [],
          },
        ],
        sideFiles: [],
        withheld,
      };
    }
    for (const c of accepted) {
      changes.push({
        transform: transform.id,
        line: lines.line(model, c.line),
        message: lines.text(model, c.message),
        rules: c.rules ?? transform.rules ?? [],
        applicability: applicability(c),
      });
    }
    lines.push(model.text, edits);
    model = next;
  }
  return { model, settled, changes, refusals, sideFiles, withheld };
}

/** One report per held-back change: a multi-pass transform offers it again on every pass. */
function dedupeWithheld(withheld: ReportedRefusal[]): ReportedRefusal[] {
  const seen = new Set<string>();
  return withheld.filter((r) => {
    const key = `${r.transform}\0${r.reason}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

function dedupeRefusals(refusals: ReportedRefusal[]): ReportedRefusal[] {
  const seen = new Set<string>();
  return refusals.filter((r) => {
    const key = `${r.transform}\0${r.line}\0${r.reason}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}
