export default function ContactsScreen(_props: Record<string, unknown>) {
  return <div className="page"><h1>ContactsScreen</h1></div>;
}
