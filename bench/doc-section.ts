// Generated sections of a markdown document, between `<!-- NAME:begin -->` and `<!-- NAME:end -->`
// lines: the bench scripts rewrite only what lies between their markers.

export function sectionMarkers(name: string): { begin: string; end: string } {
  return { begin: `<!-- ${name}:begin (generated: do not edit by hand) -->`, end: `<!-- ${name}:end -->` };
}

/**
 * Replaces the body between NAME's markers with `body`; a document without them gets the markers
 * and the body appended at its end. Markers out of order or present twice are an error (the
 * document was edited by hand: better to stop than to cut the wrong part).
 */
export function replaceSection(doc: string, name: string, body: string): string {
  const { begin, end } = sectionMarkers(name);
  const count = (s: string): number => doc.split(s).length - 1;
  const block = `${begin}\n${body.trimEnd()}\n${end}`;
  if (count(begin) === 0 && count(end) === 0) return `${doc.trimEnd()}\n\n${block}\n`;
  const at = doc.indexOf(begin);
  const stop = doc.indexOf(end);
  if (count(begin) !== 1 || count(end) !== 1 || stop < at) throw new Error(`the markers of section '${name}' are broken (want one '${begin}' before one '${end}')`);
  return `${doc.slice(0, at)}${block}${doc.slice(stop + end.length)}`;
}
