// A one-line progress bar on stderr: cells done of cells planned (skipped ones count as done), the
// cell being measured, and time used of the budget. Drawn only on a terminal, at most ten times a
// second; plain lines per run otherwise, so CI logs stay readable. No dependency: it needs only
// write() and a column count, which Node and Deno both give.
import type { Output } from './runtime.js';

export class Progress {
  private done = 0;
  private lastDraw = 0;
  private label = '';
  private drawn = false;

  constructor(
    private readonly out: Output,
    private readonly total: number,
    private readonly budgetS: number,
    private readonly enabled: boolean,
    private readonly elapsedS: () => number,
  ) {}

  /** Sets what is being measured now. */
  current(label: string): void {
    this.label = label;
    this.draw(false);
  }

  /** Marks `n` cells done (measured or skipped). */
  advance(n = 1): void {
    this.done = Math.min(this.total, this.done + n);
    this.draw(false);
  }

  /** A line that stays (a run starting, a skip), printed above the bar. */
  line(text: string): void {
    if (this.enabled && this.out.isTTY) {
      this.clear();
      this.out.write(`${text}\n`);
      this.draw(true);
    } else if (this.enabled) {
      this.out.write(`${text}\n`);
    }
  }

  finish(): void {
    if (this.enabled && this.out.isTTY) this.clear();
  }

  private clear(): void {
    if (this.drawn) this.out.write('\r\x1b[2K');
    this.drawn = false;
  }

  private draw(force: boolean): void {
    if (!this.enabled || !this.out.isTTY) return;
    const now = Date.now();
    if (!force && now - this.lastDraw < 100) return;
    this.lastDraw = now;
    const cols = Math.max(40, this.out.columns);
    const frac = this.total === 0 ? 1 : this.done / this.total;
    const time = `${Math.round(this.elapsedS())}s/${Math.round(this.budgetS)}s`;
    const count = `${this.done}/${this.total}`;
    const width = Math.max(10, Math.min(30, cols - 60));
    const filled = Math.round(frac * width);
    const bar = '█'.repeat(filled) + '░'.repeat(width - filled);
    let text = `${bar} ${count} ${time} ${this.label}`;
    if (text.length > cols - 1) text = text.slice(0, cols - 2) + '…';
    this.out.write(`\r\x1b[2K${text}`);
    this.drawn = true;
  }
}
