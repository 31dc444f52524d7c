/**
 * A progress bar on stderr for long operations: redrawn in place on a
 * terminal, a line per tenth otherwise (so logs of CI jobs stay readable).
 */
export function progressBar(label: string, total: number, stream: NodeJS.WriteStream = process.stderr): { update(done: number): void; finish(): void } {
  const width = 30;
  let lastTenth = -1;
  const render = (done: number) => {
    const fraction = total === 0 ? 1 : done / total;
    if (stream.isTTY) {
      const filled = Math.round(fraction * width);
      stream.write(`\r${label} [${"#".repeat(filled)}${".".repeat(width - filled)}] ${done}/${total}`);
      return;
    }
    const tenth = Math.floor(fraction * 10);
    if (tenth !== lastTenth) {
      lastTenth = tenth;
      stream.write(`${label}: ${done}/${total}\n`);
    }
  };
  return {
    update: render,
    finish() {
      render(total);
      if (stream.isTTY) stream.write("\n");
    },
  };
}
