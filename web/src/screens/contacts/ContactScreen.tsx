export default function ContactScreen(_props: Record<string, unknown>) {
  return <div className="page"><h1>ContactScreen</h1></div>;
}
