// The one search box of the list pages (members, apps): its text reaches the URL after a pause,
// replacing the history entry, so deep links hold the search without a history step per key.
import { useEffect, useState } from "react";
import { Input, Label, SearchField } from "react-aria-components";
import pages from "../pages/pages.module.css";
import { ui } from "./ui.tsx";

export function SearchBox(props: { value: string; onCommit(q: string): void; placeholder: string }) {
  const { value, onCommit } = props;
  const [text, setText] = useState(value);
  useEffect(() => setText(value), [value]);
  useEffect(() => {
    if (text === value) return;
    const t = setTimeout(() => onCommit(text), 300);
    return () => clearTimeout(t);
  }, [text, value, onCommit]);
  return (
    <SearchField className={pages.search} value={text} onChange={setText} onSubmit={onCommit}>
      <Label className={ui.label}>Search</Label>
      <Input className={ui.input} placeholder={props.placeholder} />
    </SearchField>
  );
}
