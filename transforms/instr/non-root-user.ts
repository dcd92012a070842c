import { indentAt, insertLinesAfter } from "../../src/engine/style.ts";
import type { Instr } from "../../src/engine/parse.ts";
import type { Change, Refusal, Transform } from "../../src/engine/types.ts";
import { lowPort } from "../lib/ports.ts";
import { isWindowsImage, matchCase, rootImage, stageChain } from "./util.ts";

const RULES = ["DL3002", "DS-0002", "CKV_DOCKER_3"];
const ROOT_USER = /^(?:root|0)(?::.*)?$/;
/** Instructions that create files; USER goes after the last of them so those stay root-owned as before. */
const FILE_WRITERS = new Set(["RUN", "COPY", "ADD", "WORKDIR"]);

/** The non-root user an image ships, null when it already runs as non-root, undefined when unknown. */
function knownUser(name: string, tag: string | null): string | null | undefined {
  if (name === "node") return "node";
  if (name.startsWith("gcr.io/distroless/")) return /nonroot/.test(tag ?? "") ? null : "nonroot";
  if (name.startsWith("cgr.dev/chainguard/")) return null;
  return undefined;
}

/**
 * Why the image looks like a base for other images, or null. USER is
 * inherited: every RUN of a child image, and every ONBUILD trigger, would run
 * as the new user, and `apt-get install` there fails without root.
 */
function meantToBeExtended(body: readonly Instr[]): string | null {
  const onbuild = body.find((i) => i.keyword === "ONBUILD");
  if (onbuild) {
    return `it has ONBUILD triggers (line ${onbuild.line}), so it is a base image; the images built from it would run their triggers and RUNs as a non-root user`;
  }
  if (!body.some((i) => i.keyword === "CMD" || i.keyword === "ENTRYPOINT")) {
    return "it has no CMD or ENTRYPOINT of its own, so it looks like a base image meant to be extended; the images built from it would run their RUNs as a non-root user";
  }
  return null;
}

/** The shell script the last ENTRYPOINT (else CMD) starts, when it starts one (`./entrypoint.sh`). */
function entrypointScript(body: readonly Instr[]): string | null {
  const last = (keyword: string) => body.filter((i) => i.keyword === keyword).pop();
  const starter = last("ENTRYPOINT") ?? last("CMD");
  if (!starter?.argsSpan) return null;
  let first: string | undefined;
  if (starter.execForm) {
    try {
      const argv: unknown = JSON.parse(starter.text.slice(starter.argsSpan.start - starter.start));
      if (Array.isArray(argv) && typeof argv[0] === "string") first = argv[0];
    } catch {
      first = undefined;
    }
  } else first = starter.args[0]?.value;
  return first !== undefined && /\.sh$/.test(first) ? first : null;
}

export const nonRootUser: Transform = {
  id: "non-root-user",
  description: "Switch the final stage to the image's non-root user where one is known",
  rationale:
    "A container running as root turns any app bug into root inside the container. dfopt adds `USER` only where " +
    "the base image ships a known unprivileged user: `node` in the official node images, `nonroot` in " +
    "gcr.io/distroless (its :nonroot tags and Chainguard images already run as non-root). USER goes after the " +
    "last RUN/COPY/ADD/WORKDIR, so everything is still built as root and stays world-readable as before. It is " +
    "unsafe: an app that writes into root-owned folders would fail at run time, so dfopt refuses when the " +
    "stage declares a VOLUME, names a port below 1024 (EXPOSE, a PORT variable, a start-command flag), switches users itself (gosu, su-exec, setpriv), creates " +
    "its own user or starts through an entrypoint script. USER is inherited, so it is never added to an image " +
    "meant to be extended (ONBUILD triggers, or no CMD or ENTRYPOINT of its own): the RUNs of every image built " +
    "from it would no longer run as root. Windows images are left alone; elsewhere dfopt only reports that the " +
    "final stage runs as root.",
  applicability: "unsafe",
  applicabilityNote:
    "The container runs as an unprivileged user, and an app (or an image built FROM this one) that writes to root-owned paths fails.",
  rules: RULES,
  run({ model }) {
    const changes: Change[] = [];
    const refusals: Refusal[] = [];
    const final = model.stages[model.stages.length - 1];
    if (!final) return { changes, refusals };
    const chain = stageChain(model, final);
    for (const s of chain) {
      const users = s.instructions.filter((i) => i.keyword === "USER");
      if (users.length === 0) continue;
      const last = users[users.length - 1];
      const value = last.args[0]?.value ?? "";
      if (ROOT_USER.test(value)) {
        refusals.push({
          line: last.line,
          reason: "final stage runs as root: USER root is set explicitly",
          rules: RULES,
        });
      }
      return { changes, refusals };
    }
    const img = rootImage(model, final);
    // an image that already runs as a non-root user needs nothing, base image or not
    if (img && knownUser(img.name, img.tag) === null) return { changes, refusals };
    const line = final.from.line;
    const report = (why: string) =>
      refusals.push({ line, reason: `final stage runs as root; ${why}`, rules: RULES });
    const body = chain.flatMap((s) => s.instructions);
    const extended = meantToBeExtended(body);
    if (extended) {
      report(extended);
      return { changes, refusals };
    }
    if (!img) {
      report("the base image is not known");
      return { changes, refusals };
    }
    if (isWindowsImage(img.name, img.tag)) {
      report(`${img.raw} is a Windows image, whose users and USER semantics differ`);
      return { changes, refusals };
    }
    const user = knownUser(img.name, img.tag);
    if (user === null) return { changes, refusals };
    if (user === undefined) {
      report(`no known non-root user in image ${img.raw}`);
      return { changes, refusals };
    }
    const volume = body.find((i) => i.keyword === "VOLUME");
    if (volume) {
      report(`it declares a VOLUME (line ${volume.line}) the app may need to write to as root`);
      return { changes, refusals };
    }
    const low = lowPort(model, body);
    if (low) {
      report(`${low.where} is a port below 1024, which a non-root user could not bind`);
      return { changes, refusals };
    }
    const switcher = body.find((i) =>
      /\b(?:gosu|su-exec|setpriv|runuser|chroot|sudo|useradd|adduser)\b/.test(i.text),
    );
    if (switcher) {
      report(
        `line ${switcher.line} manages users itself (gosu/su-exec/sudo/useradd...), so the intended user is unclear`,
      );
      return { changes, refusals };
    }
    const rootHome = body.find(
      (i) => i.keyword !== "LABEL" && /(?:^|[\s=:"'])\/root(?:\/|\s|$|["'])/.test(i.text),
    );
    if (rootHome) {
      report(`line ${rootHome.line} uses /root, which only root can read`);
      return { changes, refusals };
    }
    const script = entrypointScript(body);
    if (script) {
      report(
        `its entrypoint runs the script ${script}, which dfopt does not read; entrypoint scripts often need root to fix permissions or drop privileges themselves`,
      );
      return { changes, refusals };
    }
    const daemon = body.find(
      (i) =>
        (i.keyword === "CMD" || i.keyword === "ENTRYPOINT") &&
        /\b(?:nginx|apache2|apache2ctl|apachectl|httpd|supervisord|sshd|cron|crond|service|systemctl|php-fpm\S*|init)\b/.test(
          i.text,
        ),
    );
    if (daemon) {
      report(`its command (line ${daemon.line}) starts a service that usually needs root`);
      return { changes, refusals };
    }
    const writers = final.instructions.filter((i) => FILE_WRITERS.has(i.keyword));
    const after = writers.length > 0 ? writers[writers.length - 1] : final.from;
    const kw = matchCase(after.keyword === "FROM" ? final.from.keywordText : after.keywordText, "USER");
    const indent = after === final.from ? "" : indentAt(model, after.start);
    changes.push({
      edits: [insertLinesAfter(model, after, [`${indent}${kw} ${user}`])],
      line: final.from.line,
      message: `final stage runs as ${user} instead of root`,
      rules: RULES,
    });
    return { changes, refusals };
  },
};
