/**
 * Keys written twice in one JSON object. JSON.parse keeps the last silently; in a configuration that loses
 * something written by hand (an owner named twice loses the first one's workers). Returns each repeated key
 * as a field path (`owners.alice`, `pools[1].url`), in the order met. The text must be valid JSON (parse
 * it first). Pure.
 */
export function duplicateKeys(text: string): string[] {
  type Frame = { kind: 'object'; path: string; keys: Set<string>; key: string | null; awaitingKey: boolean } | { kind: 'array'; path: string; index: number };
  const stack: Frame[] = [];
  const out: string[] = [];
  const childPath = (): string => {
    const top = stack[stack.length - 1];
    if (!top) return '';
    if (top.kind === 'array') return `${top.path}[${top.index}]`;
    return top.path === '' ? (top.key ?? '') : `${top.path}.${top.key ?? ''}`;
  };
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '"') {
      let j = i + 1;
      while (text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      const top = stack[stack.length - 1];
      if (top?.kind === 'object' && top.awaitingKey) {
        const key = JSON.parse(text.slice(i, j + 1)) as string;
        if (top.keys.has(key)) out.push(top.path === '' ? key : `${top.path}.${key}`);
        top.keys.add(key);
        top.key = key;
        top.awaitingKey = false;
      }
      i = j;
    } else if (c === '{') {
      stack.push({ kind: 'object', path: childPath(), keys: new Set(), key: null, awaitingKey: true });
    } else if (c === '[') {
      stack.push({ kind: 'array', path: childPath(), index: 0 });
    } else if (c === '}' || c === ']') {
      stack.pop();
    } else if (c === ',') {
      const top = stack[stack.length - 1];
      if (top?.kind === 'object') top.awaitingKey = true;
      else if (top?.kind === 'array') top.index++;
    }
  }
  return out;
}
