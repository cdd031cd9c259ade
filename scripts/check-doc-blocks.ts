/**
 * Type-checks every `ts` code block of README.md and docs/*.md, so a snippet cannot drift from the
 * API it shows (`npm run docs:check`, part of `npm test`).
 *
 * - Each block is a module of its own (strict, as tsconfig.json), importing "weir" and
 *   "weir/testing" from src/ (tsconfig.docs.json maps them).
 * - A block whose first line is a path comment (`// src/worker.ts`) is that file of a small virtual
 *   project, one per Markdown file: another block of the same file can import it
 *   (`import { createApp } from "../src/worker.js"`).
 * - Names a snippet uses without defining them (the reader's own `charge()`, vitest's `expect`)
 *   come from scripts/doc-blocks/prelude.d.ts.
 * - A block that is deliberately partial (a fragment, a signature) is fenced as "```ts partial" and
 *   skipped.
 *
 * Nothing is written to disk: the blocks are served to the compiler from memory.
 */
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import ts from "typescript";

const ROOT = resolve(import.meta.dirname, "..");
const VIRTUAL = join(ROOT, ".doc-blocks");
const TSCONFIG = join(ROOT, "tsconfig.docs.json");

interface Block {
  /** The Markdown file, relative to the repository. */
  readonly source: string;
  /** 1-based line of the block's first code line in the Markdown file. */
  readonly line: number;
  /** The virtual file the compiler sees. */
  readonly file: string;
  readonly text: string;
}

const FENCE = /^(\s*)(`{3,}|~{3,})\s*([\w-]*)(.*)$/;
const PATH_COMMENT = /^\/\/ ((?:[\w.-]+\/)*[\w.-]+\.(?:ts|mts|tsx))\s*$/;

/** The `ts` blocks of one Markdown file, and how many were marked partial. */
function blocksOf(source: string): { blocks: Block[]; partial: number } {
  const lines = readFileSync(join(ROOT, source), "utf8").split("\n");
  const blocks: Block[] = [];
  let partial = 0;
  for (let i = 0; i < lines.length; i++) {
    const open = FENCE.exec(lines[i]!);
    if (open === null) continue;
    const [, indent = "", fence = "", language = "", rest = ""] = open;
    let end = i + 1;
    while (end < lines.length && !lines[end]!.trimStart().startsWith(fence)) end++;
    const body = lines
      .slice(i + 1, end)
      .map((line) => (line.startsWith(indent) ? line.slice(indent.length) : line));
    const isTypeScript = language === "ts" || language === "typescript";
    if (isTypeScript && /\bpartial\b/.test(rest)) partial++;
    else if (isTypeScript) {
      const named = PATH_COMMENT.exec(body[0] ?? "")?.[1];
      const folder = join(VIRTUAL, source.replace(/\.md$/, ""));
      blocks.push({
        source,
        line: i + 2,
        file: join(folder, named ?? `line-${i + 2}.ts`),
        // `export {}` makes every block a module: its own scope, and top-level await allowed.
        text: `${body.join("\n")}\nexport {};\n`,
      });
    }
    i = end;
  }
  return { blocks, partial };
}

function compilerOptions(): ts.CompilerOptions {
  const config = ts.getParsedCommandLineOfConfigFile(
    TSCONFIG,
    {},
    {
      ...ts.sys,
      onUnRecoverableConfigFileDiagnostic: (diagnostic) => {
        throw new Error(ts.flattenDiagnosticMessageText(diagnostic.messageText, "\n"));
      },
    },
  );
  if (config === undefined) throw new Error(`cannot read ${TSCONFIG}`);
  return { ...config.options, noEmit: true };
}

function check(): number {
  const sources = [
    "README.md",
    ...readdirSync(join(ROOT, "docs"))
      .filter((file) => file.endsWith(".md"))
      .sort()
      .map((file) => `docs/${file}`),
  ];
  const blocks: Block[] = [];
  let partial = 0;
  for (const source of sources) {
    const found = blocksOf(source);
    blocks.push(...found.blocks);
    partial += found.partial;
  }
  const byFile = new Map(blocks.map((block) => [block.file, block]));
  if (byFile.size !== blocks.length) throw new Error("two blocks of one Markdown file name the same path");
  const virtualDirs = new Set<string>();
  for (const file of byFile.keys()) {
    for (let dir = dirname(file); dir.startsWith(VIRTUAL); dir = dirname(dir)) virtualDirs.add(dir);
  }

  const options = compilerOptions();
  const host = ts.createCompilerHost(options);
  const { fileExists, readFile, directoryExists, getSourceFile } = host;
  host.fileExists = (file) => byFile.has(file) || fileExists.call(host, file);
  host.readFile = (file) => byFile.get(file)?.text ?? readFile.call(host, file);
  host.directoryExists = (dir) => virtualDirs.has(dir) || (directoryExists?.call(host, dir) ?? false);
  host.getSourceFile = (file, language, onError, fresh) => {
    const block = byFile.get(file);
    return block === undefined
      ? getSourceFile.call(host, file, language, onError, fresh)
      : ts.createSourceFile(file, block.text, language, true);
  };
  const prelude = join(ROOT, "scripts/doc-blocks/prelude.d.ts");
  const program = ts.createProgram([prelude, ...byFile.keys()], options, host);
  const diagnostics = ts.getPreEmitDiagnostics(program);

  const lines: Array<{ where: string; order: [string, number]; text: string }> = [];
  for (const diagnostic of diagnostics) {
    const message = ts.flattenDiagnosticMessageText(diagnostic.messageText, "\n  ");
    const file = diagnostic.file;
    const block = file === undefined ? undefined : byFile.get(file.fileName);
    let where = file === undefined ? "" : relative(ROOT, file.fileName);
    let order: [string, number] = [where, 0];
    if (file !== undefined && diagnostic.start !== undefined) {
      const { line, character } = file.getLineAndCharacterOfPosition(diagnostic.start);
      order = block === undefined ? [where, line] : [block.source, block.line + line];
      where = `${order[0]}:${order[1] + (block === undefined ? 1 : 0)}:${character + 1}`;
    }
    lines.push({ where, order, text: `error TS${diagnostic.code}: ${message}` });
  }
  lines.sort((a, b) => a.order[0].localeCompare(b.order[0]) || a.order[1] - b.order[1]);
  for (const { where, text } of lines) process.stderr.write(`${where}${where ? " - " : ""}${text}\n`);
  const errors = lines.length;
  const summary = `${blocks.length} ts blocks in ${sources.length} files type-checked, ${partial} marked partial`;
  process.stderr.write(
    errors === 0 ? `docs: ${summary}; no errors\n` : `docs: ${summary}; ${errors} error(s)\n`,
  );
  return errors === 0 ? 0 : 1;
}

process.exitCode = check();
