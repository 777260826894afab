// A subset of Go templates as the docker CLI's --format uses them: `{{.A.B}}`, `{{json .A}}`, `{{json .}}`.

function lookup(obj: unknown, path: string): unknown {
  let cur = obj;
  for (const key of path.split('.').filter(Boolean)) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[key];
  }
  return cur;
}

function show(v: unknown): string {
  if (v === undefined) return '<no value>';
  if (v === null) return '<nil>';
  if (Array.isArray(v)) return `[${v.map(show).join(' ')}]`;
  if (typeof v === 'object')
    return `map[${Object.entries(v as object)
      .map(([k, x]) => `${k}:${show(x)}`)
      .join(' ')}]`;
  return String(v);
}

/** Renders `{{.A.B}}` and `{{json .A}}` actions; other text is copied. Throws on unsupported actions. */
export function renderTemplate(template: string, data: unknown): string {
  return template.replace(/\{\{\s*(.*?)\s*\}\}/g, (_m, action: string) => {
    const json = /^json\s+(\.[\w.]*)$/.exec(action);
    if (json) return JSON.stringify(json[1] === '.' ? data : lookup(data, json[1].slice(1)));
    if (/^\.[\w.]*$/.test(action)) return show(action === '.' ? data : lookup(data, action.slice(1)));
    throw new Error(`template: unsupported action "{{${action}}}": use {{.Field.Path}} or {{json .Field}}`);
  });
}
