import EventsPage from "./components/EventsPage";
import UnsubscribePage from "./components/UnsubscribePage";

export default function App() {
  if (window.location.pathname.replace(/\/+$/, "") === "/unsubscribe") {
    return <UnsubscribePage token={new URLSearchParams(window.location.search).get("token")} />;
  }
  return <EventsPage />;
}
