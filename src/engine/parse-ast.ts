/**
 * The fallback Dockerfile reader: dockerfile-ast, for the inputs the fast
 * scanner (scan.ts) leaves to it. Loaded on first use by parse.ts.
 */
import {
  DockerfileParser,
  Instruction,
  JSONInstruction,
  ModifiableInstruction,
  From,
  Run,
} from "dockerfile-ast";
import type { FlagInfo, Span, Word } from "./parse.ts";
import { copyAddHeredoc, type FromParts, type ScannedFile, type ScannedInstr } from "./scan.ts";

type LspPos = { line: number; character: number };

// dockerfile-ast re-scans an instruction's arguments on every getArguments()
// call, and its own constructors call it several times per instruction. The
// arguments never change after parsing, so memoising them makes parsing ~3x
// faster. Callers mutate the returned array (flags are spliced off), hence the copy.
const argsCache = Symbol("dfopt.args");
type Memo = { [argsCache]?: ReturnType<Instruction["getArguments"]> };
const proto = Instruction.prototype as unknown as {
  getRawArguments: (this: Instruction & Memo) => ReturnType<Instruction["getArguments"]>;
};
const rawArguments = proto.getRawArguments;
proto.getRawArguments = function (this: Instruction & Memo) {
  return (this[argsCache] ??= rawArguments.call(this)).slice();
};

export function scanWithDockerfileAst(text: string, lineStarts: number[]): ScannedFile {
  const ast = DockerfileParser.parse(text);
  const offsetAt = (p: LspPos) => Math.min(text.length, lineStarts[p.line] + p.character);
  const span = (r: { start: LspPos; end: LspPos }): Span => ({
    start: offsetAt(r.start),
    end: offsetAt(r.end),
  });
  const instructions = ast.getInstructions().map((node) => scanInstr(node, text, span));
  const comments = ast
    .getComments()
    .map((c) => ({ ...span(c.getRange()), line: c.getRange().start.line + 1 }));
  return { escapeChar: ast.getEscapeCharacter(), instructions, comments };
}

function scanInstr(
  node: Instruction,
  text: string,
  span: (r: { start: LspPos; end: LspPos }) => Span,
): ScannedInstr {
  const keyword = node.getKeyword();
  const range = span(node.getRange());
  const flags: FlagInfo[] =
    node instanceof ModifiableInstruction
      ? node.getFlags().map((f) => ({
          ...span(f.getRange()),
          name: f.getName(),
          value: f.getValue(),
        }))
      : [];
  const args: Word[] = node.getArguments().map((a) => ({ ...span(a.getRange()), value: a.getValue() }));
  let execForm = false;
  if (node instanceof JSONInstruction) {
    execForm = node.getOpeningBracket() !== null && node.getClosingBracket() !== null;
  }
  const hasHeredoc =
    node instanceof Run
      ? node.getHeredocs().length > 0
      : copyAddHeredoc(keyword, text.slice(range.start, range.end));
  let from: FromParts | null = null;
  if (node instanceof From) {
    const stageRange = node.getBuildStageRange();
    const imageRange = node.getImageRange();
    from = {
      stageName: node.getBuildStage(),
      stageNameSpan: stageRange ? span(stageRange) : null,
      image: node.getImage(),
      imageSpan: imageRange ? span(imageRange) : null,
    };
  }
  return {
    keyword,
    keywordSpan: span(node.getInstructionRange()),
    range,
    flags,
    args,
    execForm,
    hasHeredoc,
    from,
  };
}
