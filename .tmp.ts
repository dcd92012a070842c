import { parseDockerfile } from "./src/engine/parse.ts";
const t = "# escape=`\nFROM node:${V:-20} AS b\r\nRUN apt-get update && `\n  # c\n  apt-get install x\nRUN <<EOF\necho hi\nEOF\nCOPY --from=b --chown=1 /a /b\nCMD [\"a\"]\nrun echo  \nENV A=1\n";
const m = parseDockerfile(t);
for (const i of m.instructions) console.log(JSON.stringify({k:i.keyword, kt:i.keywordText, line:i.line, endLine:i.endLine, text:i.text, flags:i.flags.map(f=>f.name+'='+f.value), args:i.args.map(a=>a.value), argsSpan: i.argsSpan && t.slice(i.argsSpan.start,i.argsSpan.end), exec:i.execForm, hd:i.hasHeredoc}));
console.log(m.stages[0].image, m.stages[0].name, m.escapeChar);
