import { type Dirent, type FSWatcher, readdirSync, statSync, watch } from "node:fs";
import { join, relative } from "node:path";

/** Folders never watched: dependencies, VCS data, build output, hidden folders. */
const IGNORED_FOLDER = /^(node_modules|dist|coverage|\..+)$/;
/** Editors' temporary files (Emacs locks, Vim swap files and its write test, backups): no change. */
const IGNORED_FILE = /^\.#|\.sw[a-p]$|~$|^4913$/;
/** Editors write a file in several steps: one restart per burst of changes. */
const DEBOUNCE_MS = 200;

/**
 * Calls `onChange(file)` (relative to `root`) once per burst of changes to a file under `root`.
 *
 * Node's own watcher (`fs.watch`, what `node --watch-path` uses), one per folder rather than
 * `recursive: true`: on Linux, Node's recursive mode walks the whole tree and watches every file,
 * `node_modules` included, tens of thousands of inotify watches for a project root. A folder watch
 * reports changes to the files in it; a new folder is watched when it appears. Returns `close()`.
 */
export function watchTree(root: string, onChange: (file: string) => void): () => void {
  const watchers = new Map<string, FSWatcher>();
  let timer: NodeJS.Timeout | undefined;
  let changed: string | undefined;
  let closed = false;

  const fire = (file: string): void => {
    changed ??= file;
    clearTimeout(timer);
    timer = setTimeout(() => {
      const first = changed!;
      changed = undefined;
      if (!closed) onChange(first);
    }, DEBOUNCE_MS);
  };

  const add = (folder: string): void => {
    if (closed || watchers.has(folder)) return;
    let entries: Dirent[];
    try {
      entries = readdirSync(folder, { withFileTypes: true });
      const watcher = watch(folder, (_event, name) => {
        if (name === null || IGNORED_FILE.test(name)) return;
        const path = join(folder, name);
        let isFolder = false;
        try {
          isFolder = statSync(path).isDirectory();
        } catch {
          // Deleted: still a change.
        }
        if (isFolder) {
          if (IGNORED_FOLDER.test(name)) return;
          add(path); // a new (or renamed) folder: watch it too
        }
        fire(relative(root, path));
      });
      // The folder was deleted (or became unreadable): forget it; its parent reports the change.
      watcher.on("error", () => {
        watcher.close();
        watchers.delete(folder);
      });
      watchers.set(folder, watcher);
    } catch {
      return; // Gone already.
    }
    for (const entry of entries) {
      if (entry.isDirectory() && !IGNORED_FOLDER.test(entry.name)) add(join(folder, entry.name));
    }
  };

  add(root);
  return () => {
    closed = true;
    clearTimeout(timer);
    for (const watcher of watchers.values()) watcher.close();
    watchers.clear();
  };
}
